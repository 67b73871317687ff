"""Loading settings: the file, environment overrides and their errors, and model paths."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from tenor.config import ConfigError, Settings, load_settings
from tests.conftest import REPO


def load(tmp_path, text: str = "", **environ):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_settings(path, environ={"TENOR_HOME": str(tmp_path / "home"), **environ})


# -- environment overrides -------------------------------------------------------------

def test_variables_override_the_file_by_path(tmp_path):
    settings = load(tmp_path, "vllm: {port: 8100}\nprofiles: {shop: {adapter: v1}}\ndefault_profile: shop\n",
                    TENOR_VLLM__PORT="8200", TENOR_CHROMA_URL="http://127.0.0.1:9000",
                    TENOR_PROFILES__SHOP__ADAPTER="/srv/adapters/v2", TENOR_VLLM__EXTRA_ARGS="[--a, b]")
    assert settings.vllm.port == 8200 and settings.chroma_url == "http://127.0.0.1:9000"
    assert settings.profile("shop").adapter == "/srv/adapters/v2"
    assert settings.vllm.extra_args == ["--a", "b"]
    assert settings.home == tmp_path / "home"


def test_a_bad_variable_is_named_in_the_error_not_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "vllm: {port: 8100}\n", TENOR_VLLM__PROT="8200")
    assert str(caught.value) == ("environment variable TENOR_VLLM__PROT: vllm.prot: "
                                 "Extra inputs are not permitted")
    with pytest.raises(ConfigError, match=r"^environment variable TENOR_VLLM__PORT: vllm.port: Input should be"):
        load(tmp_path, "", TENOR_VLLM__PORT="eighty")
    with pytest.raises(ConfigError, match=r"^environment variable TENOR_SERVER: server: Input should be"):
        load(tmp_path, "", TENOR_SERVER="on")


def test_a_bad_key_in_the_file_is_still_blamed_on_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "vllm: {prot: 8100}\n", TENOR_VLLM__PORT="8200")
    assert str(caught.value) == f"{tmp_path / 'config.yaml'}: vllm.prot: Extra inputs are not permitted"


def test_file_and_variable_errors_are_reported_together(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "chunk: {tokens: 1}\n", TENOR_EMBED__BATCH_SIZE="0")
    message = str(caught.value)
    assert f"{tmp_path / 'config.yaml'}: chunk.tokens:" in message
    assert "environment variable TENOR_EMBED__BATCH_SIZE: embed.batch_size:" in message


def test_an_unrelated_tenor_variable_is_ignored_with_a_warning(tmp_path, caplog, monkeypatch):
    import tenor.config

    monkeypatch.setattr(tenor.config, "_warned", set())  # each variable is warned about once per process
    with caplog.at_level(logging.WARNING, logger="tenor.config"):
        settings = load(tmp_path, "", TENOR_CHECKOUT="/src/tenor", TENOR_VLLM_URL="http://vllm:8000")
    assert settings.vllm.url is None
    warnings = " | ".join(r.getMessage() for r in caplog.records)
    assert "TENOR_CHECKOUT ignored: no setting 'checkout'" in warnings
    assert "TENOR_VLLM_URL ignored" in warnings and "TENOR_VLLM__URL" in warnings  # the likely typo


def test_the_cli_own_variables_are_not_settings(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="tenor.config"):
        load(tmp_path, "", TENOR_API_KEY="sk-admin-123456", TENOR_URL="http://127.0.0.1:8000",
             TENOR_CONFIG=str(tmp_path / "config.yaml"))
    assert not caplog.records


def test_every_command_survives_an_unrelated_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENOR_")}
    env.update(TENOR_HOME=str(tmp_path), TENOR_CHECKOUT="/src/tenor", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "tenor.cli", "adapters", "list"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "TENOR_CHECKOUT ignored" in result.stderr and "Extra inputs" not in result.stderr


# -- model paths -----------------------------------------------------------------------

@pytest.mark.parametrize("name, is_path", [
    ("/models/minilm", True), ("./minilm", True), ("../minilm", True), ("~/minilm", True),
    ("models/minilm/v2", True), ("sentence-transformers/all-MiniLM-L6-v2", False), ("gpt2", False),
])
def test_what_looks_like_a_path(name, is_path):
    from tenor.config import looks_like_path

    assert looks_like_path(name) is is_path


def test_a_missing_model_path_names_its_setting(tmp_path):
    settings = Settings(home=tmp_path)
    with pytest.raises(ConfigError, match=r"^profiles.shop.base_model: /nope/smollm does not exist"):
        settings.resolve_model("/nope/smollm", "profiles.shop.base_model")
    with pytest.raises(ConfigError, match=r"^base_model: ~/nope-smollm does not exist"):
        settings.resolve_model("~/nope-smollm")
    (tmp_path / "real").mkdir()
    assert settings.resolve_model(str(tmp_path / "real")) == str(tmp_path / "real")
    assert settings.resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_a_missing_embedder_or_base_path_fails_before_loading_anything(tmp_path):
    from finetune.train import resolve_base
    from ingest.embedder import Embedder, resolve_model_path
    from tenor.config import EmbedSettings

    with pytest.raises(ConfigError, match=r"^embed.model: ./typo-minilm does not exist"):
        resolve_model_path("./typo-minilm")
    with pytest.raises(ConfigError, match=r"^embed.model: /nope/minilm does not exist"):
        Embedder(EmbedSettings(model="/nope/minilm"))
    with pytest.raises(ConfigError, match=r"^--base: /nope/base does not exist"):
        resolve_base(Settings(home=tmp_path), "/nope/base")


def test_the_managed_vllm_refuses_a_missing_base_model_path(tmp_path):
    from assistant.vllm_process import VllmProcess

    settings = load(tmp_path, "profiles: {shop: {base_model: /nope/qwen}}\ndefault_profile: shop\n")
    with pytest.raises(ConfigError, match=r"^profiles.shop.base_model: /nope/qwen does not exist"):
        VllmProcess(settings)


def test_ingest_with_a_mistyped_embedder_path_is_one_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENOR_")}
    env.update(TENOR_HOME=str(tmp_path), TENOR_EMBED__MODEL="/nope/minilm", PYTHONPATH=str(REPO))
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n")
    result = subprocess.run([sys.executable, "-m", "tenor.cli", "ingest", str(tmp_path / "a.md")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "embed.model: /nope/minilm does not exist" in result.stderr and "Traceback" not in result.stderr


def test_the_cli_process_is_offline_unless_told_otherwise():
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["PYTHONPATH"] = str(REPO)
    probe = ("import os, tenor.cli, huggingface_hub.constants as hub; "
             "print(os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'], hub.HF_HUB_OFFLINE)")
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["1", "1", "True"], run.stderr
    run = subprocess.run([sys.executable, "-c", probe], env={**env, "HF_HUB_OFFLINE": "0"},
                         capture_output=True, text=True, timeout=120)
    assert run.stdout.split()[0] == "0" and run.stdout.split()[2] == "False", run.stderr
