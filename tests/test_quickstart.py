"""`tenor quickstart` on a fresh data directory: config, model, index, search; idempotent."""

import json

import pytest
from typer.testing import CliRunner

from tenor.cli import app

pytestmark = pytest.mark.integration


def test_quickstart_sets_up_the_sample_company_and_reruns_idempotently(tenor_home, prepared_base_model):
    # Reuse the session's converted model (converting again would only cost time).
    (tenor_home / "models").mkdir()
    (tenor_home / "models" / prepared_base_model.name).symlink_to(prepared_base_model)
    runner = CliRunner()

    first = runner.invoke(app, ["quickstart", "--no-train", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert (tenor_home / "config.yaml").read_text().startswith("# Tenor configuration for the sample company")
    assert "10 added" in first.output and "warranty.pdf" in first.output

    second = runner.invoke(app, ["quickstart", "--no-train", "--no-serve"])
    assert second.exit_code == 0, second.output
    assert "10 unchanged" in second.output

    listed = runner.invoke(app, ["docs", "list", "--json"])
    assert len(json.loads(listed.stdout)) == 10  # the default profile's collection
