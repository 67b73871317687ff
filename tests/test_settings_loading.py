"""Loading settings: where the file comes from, how the environment overrides it, what fails how."""

from __future__ import annotations

import pytest

from tenor.config import ConfigError, load_settings


def test_no_config_file_gives_working_defaults(tmp_path):
    settings = load_settings(environ={"TENOR_HOME": str(tmp_path)})
    assert settings.home == tmp_path and settings.models_dir == tmp_path / "models"
    assert settings.profile().name == "default" and settings.vllm.url is None and settings.server.auth is True


def test_the_data_directorys_config_file_is_read(tmp_path):
    (tmp_path / "config.yaml").write_text("server:\n  port: 9001\n")
    assert load_settings(environ={"TENOR_HOME": str(tmp_path)}).server.port == 9001


def test_tenor_config_names_the_file_and_an_explicit_path_wins(tmp_path):
    named = tmp_path / "named.yaml"
    named.write_text("server:\n  port: 9002\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("server:\n  port: 9003\n")
    (tmp_path / "config.yaml").write_text("server:\n  port: 9001\n")
    environ = {"TENOR_HOME": str(tmp_path), "TENOR_CONFIG": str(named)}
    assert load_settings(environ=environ).server.port == 9002
    assert load_settings(explicit, environ=environ).server.port == 9003


def test_a_missing_tenor_config_file_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match=f"{missing}: config file not found"):
        load_settings(environ={"TENOR_CONFIG": str(missing)})


def test_environment_overrides_nested_keys_as_yaml_scalars(tmp_path):
    settings = load_settings(environ={
        "TENOR_HOME": str(tmp_path),
        "TENOR_CHROMA_URL": "http://10.0.0.5:8001",
        "TENOR_VLLM__PORT": "8200",
        "TENOR_SERVER__AUTH": "false",
        "TENOR_VLLM__EXTRA_ARGS": "[--enforce-eager, --seed, '1']",
    })
    assert settings.chroma_url == "http://10.0.0.5:8001"
    assert settings.vllm.port == 8200 and settings.server.auth is False
    assert settings.vllm.extra_args == ["--enforce-eager", "--seed", "1"]


def test_an_override_changes_one_key_and_keeps_the_files_others(tmp_path):
    config = tmp_path / "tenor.yaml"
    config.write_text("profiles:\n  larkfield:\n    adapter: larkfield-voice\n    collection: lark-docs\n"
                      "default_profile: larkfield\n")
    settings = load_settings(config, environ={"TENOR_PROFILES__LARKFIELD__ADAPTER": "/srv/adapters/v2"})
    profile = settings.profile("larkfield")
    assert profile.adapter == "/srv/adapters/v2" and profile.collection == "lark-docs"


def test_only_the_given_environment_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("TENOR_VLLM__PORT", "8300")
    monkeypatch.delenv("TENOR_CONFIG", raising=False)
    assert load_settings(environ={"TENOR_HOME": str(tmp_path)}).vllm.port == 8100
    assert load_settings(environ=None, path=tmp_path / "absent.yaml").vllm.port == 8300


@pytest.mark.parametrize("text, message", [
    ("server: [port\n", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping at the top level"),
    ("vllm:\n  port: eighty\n", "vllm.port: "),
])
def test_a_bad_file_is_an_error_naming_the_file_and_the_problem(tmp_path, text, message):
    config = tmp_path / "tenor.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=f"^{config}: .*{message}"):
        load_settings(config, environ={})
