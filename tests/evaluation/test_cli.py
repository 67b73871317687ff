"""`tenor eval` refuses contradictory options before it starts or calls any server."""

import pytest
from typer.testing import CliRunner

from tenor.cli import app


@pytest.mark.parametrize("args, message", [
    (["--served-only", "--base-only"], "--served-only and --base-only exclude each other"),
    (["--served-only", "--base-profile", "shop-base"], "drop --base-profile"),
])
def test_contradictory_options_fail_before_any_server(tenor_home, monkeypatch, args, message):
    config = tenor_home / "config.yaml"
    config.write_text("default_profile: shop\nprofiles:\n  shop:\n    adapter: voice\n  shop-base: {}\n")
    monkeypatch.setenv("TENOR_CONFIG", str(config))
    result = CliRunner().invoke(app, ["eval", "--url", "http://127.0.0.1:9", *args])
    assert result.exit_code == 1 and message in result.output, result.output


def test_the_abstention_curve_scores_meaning_with_the_local_embedder_only_for_its_own_server(capsys):
    from evaluation.cli import local_closeness
    from tenor.config import EmbedSettings, Settings

    assert local_closeness(Settings(), remote=True) is None
    assert "words only" in capsys.readouterr().err
    missing = Settings(embed=EmbedSettings(model="/nonexistent/embedder"))
    assert local_closeness(missing, remote=False) is None  # a warning, not a traceback
    assert "does not load here" in capsys.readouterr().err
