"""`tenor adapters promote|rollback` as a user drives them, up to the server: clear errors before
any server starts, and a rollback with no server running that only moves the history."""

import json

import pytest
from typer.testing import CliRunner

from tenor.adapter_versions import AdapterVersions
from tenor.cli import app
from tenor.net import free_port


def tenor(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def shop(tenor_home, monkeypatch):
    """A config whose profile 'shop' uses adapter 'voice' (versions 1 and 2, 2 promoted); no server runs."""
    config = tenor_home / "config.yaml"
    config.write_text("default_profile: shop\nprofiles:\n  shop:\n    adapter: voice\n  plain: {}\n")
    monkeypatch.setenv("TENOR_CONFIG", str(config))
    monkeypatch.setenv("TENOR_SERVER__PORT", str(free_port()))  # nothing listens there
    for n in (1, 2):
        folder = tenor_home / "adapters" / f"voice@{n}"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text('{"r": 8}')
        (folder / "adapter_model.safetensors").write_bytes(b"")
    versions = AdapterVersions(tenor_home / "adapters", "voice")
    versions.promote(1)
    versions.promote(2)
    return versions


@pytest.mark.parametrize("args, message", [
    (["voice"], "name the version to promote, NAME@N"),
    (["voice@7"], "no adapter voice@7"),
    (["voice@2"], "voice@2 already serves"),
    (["other@1"], "serves adapter 'voice', not the versions of 'other'"),
    (["voice@1", "--profile", "plain"], "profile 'plain' has no adapter"),
    (["voice@1", "--questions", "/nowhere.jsonl"], "/nowhere.jsonl"),
    (["voice@1"], "give --questions: your own question set for 'shop'"),
])
def test_promote_names_what_is_wrong_before_any_server_starts(shop, args, message):
    result = tenor("adapters", "promote", *args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "starting one" not in result.output


def test_rollback_without_a_server_moves_the_history_for_the_next_start(shop):
    result = tenor("adapters", "rollback")
    assert result.exit_code == 0, result.output
    assert "no server answered; voice@1 serves from the next start, in place of voice@2" in result.output
    assert shop.serving() == 1
    again = tenor("adapters", "rollback", "shop")
    assert again.exit_code == 1 and "no earlier version to roll back to" in again.output
    listed = {a["name"]: a["serving"] for a in json.loads(tenor("adapters", "list", "--json").stdout)}
    assert listed == {"voice@1": True, "voice@2": False}


def test_rollback_of_an_explicit_server_that_does_not_answer_is_an_error_and_changes_nothing(shop):
    result = tenor("adapters", "rollback", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1 and "connect" in result.output.lower(), result.output
    assert shop.serving() == 2
