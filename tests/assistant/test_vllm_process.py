"""The managed vLLM: the command it runs, config errors, restart after a crash, external checks."""

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.engine import Engine, lora_name, missing_models
from assistant.vllm_process import VllmProcess
from tenor.config import ConfigError, Settings
from tests.waiting import wait_for

FAKE = Path(__file__).with_name("fake_vllm.py")


def make_adapter(folder: Path, rank: int = 8) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(f'{{"r": {rank}}}')
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


def settings_with(tmp_path, profiles, **vllm) -> Settings:
    (tmp_path / "models" / "smollm2-135m-instruct").mkdir(parents=True, exist_ok=True)
    return Settings(home=tmp_path, profiles=profiles, default_profile=next(iter(profiles)), vllm=vllm)


def test_command_serves_the_base_and_each_adapter_on_loopback(tmp_path):
    make_adapter(tmp_path / "adapters" / "voice", rank=32)
    s = settings_with(tmp_path, {"a": {"adapter": "voice"}, "b": {}})
    cmd = VllmProcess(s).command()
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--served-model-name") + 1] == "smollm2-135m-instruct"
    assert "--enable-lora" in cmd and cmd[cmd.index("--max-lora-rank") + 1] == "32"
    assert f"voice={tmp_path / 'adapters' / 'voice'}" in cmd


def test_without_adapters_there_is_no_enable_lora(tmp_path):
    s = settings_with(tmp_path, {"merged": {}})
    proc = VllmProcess(s)
    assert "--enable-lora" not in proc.command() and not proc.lora_enabled


def test_auto_dtype_is_float32_on_a_cpu_build_and_vllms_choice_elsewhere(tmp_path, monkeypatch):
    from assistant import vllm_process

    monkeypatch.setattr(vllm_process, "cpu_build", lambda: True)
    command = VllmProcess(settings_with(tmp_path, {"b": {}})).command()  # even on a CPU with native bf16
    assert command[command.index("--dtype") + 1] == "float32" and vllm_process.merge_dtype("auto") == "float32"
    assert vllm_process.served_dtype("bfloat16") == "bfloat16"  # a setting of its own wins
    monkeypatch.setattr(vllm_process, "cpu_build", lambda: False)  # the GPU build: vLLM's own choice
    assert vllm_process.served_dtype("auto") == "auto" and vllm_process.merge_dtype("auto") == "bfloat16"


def test_environment_points_vllm_at_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    monkeypatch.delenv("VLLM_CACHE_ROOT", raising=False)
    env = VllmProcess(settings_with(tmp_path, {"b": {}}, kv_cache_gb=3)).env()
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert env["VLLM_CACHE_ROOT"].startswith(str(tmp_path))
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"


@pytest.mark.parametrize("cores, reserved", [(2, "0"), (4, "0"), (16, None)])
def test_small_machines_compute_on_every_core(tmp_path, monkeypatch, cores, reserved):
    """Sized by the cores this process may use: a container's 2-core share of a 64-core host is small."""
    monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert VllmProcess(settings_with(tmp_path, {"b": {}})).env().get("VLLM_CPU_NUM_OF_RESERVED_CPU") == reserved
    monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "1")  # the operator's own setting wins
    assert VllmProcess(settings_with(tmp_path, {"b": {}})).env()["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "1"


def test_missing_adapter_folder_is_a_clear_config_error(tmp_path):
    with pytest.raises(ConfigError, match="profile 'a'.*adapter_config.json"):
        VllmProcess(settings_with(tmp_path, {"a": {"adapter": "nope"}}))


def test_two_base_models_need_an_external_vllm(tmp_path):
    (tmp_path / "other").mkdir()
    with pytest.raises(ConfigError, match="one base model"):
        VllmProcess(settings_with(tmp_path, {"a": {}, "b": {"base_model": str(tmp_path / "other")}}))


def test_lora_name_of_a_path_is_its_folder_name():
    assert lora_name("/srv/adapters/larkfield-v2/") == "larkfield-v2"
    assert lora_name("larkfield-voice") == "larkfield-voice"


class FakeProcess(VllmProcess):
    """The supervisor, running the fake vLLM script instead of vLLM."""

    def command(self):
        return [sys.executable, str(FAKE), "--port", str(self.port)]


def test_supervisor_restarts_a_crashed_vllm_and_stops_it(tmp_path):
    s = settings_with(tmp_path, {"b": {}}, port=0, start_timeout_s=60)
    proc = FakeProcess(s)
    proc.start()
    try:
        first = proc._proc.pid
        assert proc.state == "ready" and proc.running
        os.kill(first, signal.SIGKILL)
        deadline = time.time() + 60
        while not (proc.state == "ready" and proc._proc.pid != first):
            assert time.time() < deadline, "not restarted"
            time.sleep(0.2)
        assert proc.restarts == 1
        assert "exited with code -9; restarting" in proc.log_path.read_text()
    finally:
        proc.stop()
    assert not proc.running and proc.state == "stopped"


class SlowStarts(FakeProcess):
    """The fake vLLM, each start waiting ``delays[i]`` seconds before it listens (then none)."""

    BACKOFF_S = 0.2

    def __init__(self, settings, delays=()):
        super().__init__(settings)
        self.delays = list(delays)

    def command(self):
        lora = VllmProcess.command(self)
        modules = lora[lora.index("--lora-modules") + 1:] if "--lora-modules" in lora else []
        delay = self.delays.pop(0) if self.delays else 0
        return super().command() + ["--startup-delay-s", str(delay), "--lora-modules", *modules]


class NoIndex:
    """The app's index, for tests of the supervisor only (/ready pings it)."""

    embedder = None

    def ping(self):
        return True

    def lexical_index(self):
        return None


def managed_app(proc):
    from fastapi.testclient import TestClient

    from assistant.app import create_app

    return TestClient(create_app(proc.settings, no_auth=True, vllm=proc, index_for=lambda name: NoIndex()))


def test_supervisor_keeps_restarting_after_a_restart_too_slow_to_be_ready(tmp_path):
    # Start fast; the first restart hangs past start_timeout_s (killed); the second is slowish and succeeds.
    s = settings_with(tmp_path, {"b": {}}, port=0, start_timeout_s=15)
    proc = SlowStarts(s, delays=[0, 600, 1])
    with managed_app(proc) as client:
        assert client.get("/ready").json()["vllm"]["state"] == "ready"
        os.kill(proc._proc.pid, signal.SIGKILL)

        def failed_once():
            ready = client.get("/ready")
            return ready if ready.json()["vllm"]["failed_restarts"] == 1 else None

        ready = wait_for(failed_once, 60, "the slow restart was not given up on")
        assert ready.status_code == 503 and ready.headers["Retry-After"]
        body = ready.json()
        assert body["vllm"]["state"] == "restarting" and body["vllm"]["restarts"] >= 1
        assert "1 restart attempts failed" in body["checks"]["vllm"]
        assert body["checks"]["vllm"].startswith("unavailable: restarting")
        # the cause names the log file's path: it goes to the server log, not to this keyless answer
        assert body["vllm"]["last_error"] is None and str(tmp_path) not in ready.text

        wait_for(lambda: client.get("/ready").status_code == 200, 60, "vLLM never came back")
        assert proc.status() == {"state": "ready", "restarts": 2, "failed_restarts": 0, "last_error": None,
                                 "next_attempt_in_s": None}
        metrics = client.get("/metrics").text
        assert 'tenor_vllm_state{state="ready"} 1.0' in metrics
        assert 'tenor_vllm_state{state="restarting"} 0.0' in metrics
        assert "tenor_vllm_restarts_total 2.0" in metrics and "tenor_vllm_failed_restarts 0.0" in metrics
        log = proc.log_path.read_text()
        assert "restart 1 failed" in log and "restarting in 0.4 s (restart 2)" in log
    assert not proc.running and proc.state == "stopped"


def test_stop_during_a_restart_ends_the_supervisor_and_leaves_no_vllm(tmp_path):
    s = settings_with(tmp_path, {"b": {}}, port=0, start_timeout_s=60)
    proc = SlowStarts(s, delays=[0, 600])
    proc.start()
    os.kill(proc._proc.pid, signal.SIGKILL)
    first = proc._proc
    restarting = wait_for(lambda: proc._proc is not first and proc._proc, 30, "no restart attempted")
    assert proc.state == "restarting"
    proc.stop()
    assert restarting.poll() is not None and proc.state == "stopped"
    proc._watcher.join(10)
    assert not proc._watcher.is_alive()


def test_a_hot_swapped_adapter_is_registered_again_after_a_restart(tmp_path):
    make_adapter(tmp_path / "adapters" / "voice")
    v2 = make_adapter(tmp_path / "adapters" / "voice-v2")
    seasonal = make_adapter(tmp_path / "elsewhere" / "seasonal")
    s = settings_with(tmp_path, {"shop": {"adapter": "voice"}}, port=0, start_timeout_s=60, mode="lora")
    proc = SlowStarts(s)
    with managed_app(proc) as client:
        for name, path in (("voice", v2), ("seasonal", seasonal)):
            loaded = client.post("/v1/admin/adapters", json={"name": name, "path": str(path)})
            assert loaded.status_code == 200, loaded.text
        before = proc._proc.pid
        os.kill(before, signal.SIGKILL)
        wait_for(lambda: proc.state == "ready" and proc._proc.pid != before, 60, "not restarted")
        served = {m["id"]: m["root"] for m in httpx.get(f"{proc.url}/v1/models").json()["data"]}
    assert served["voice"] == str(v2) and served["seasonal"] == str(seasonal)


def test_merged_mode_refuses_a_hot_swap_and_says_which_setting_allows_it(tmp_path):
    class MergedFake(FakeProcess):
        def prepare(self):  # the fake adapter has no weights to merge
            pass

    make_adapter(tmp_path / "adapters" / "voice")
    v2 = make_adapter(tmp_path / "adapters" / "voice-v2")
    proc = MergedFake(settings_with(tmp_path, {"shop": {"adapter": "voice"}}, port=0, start_timeout_s=60,
                                    mode="merged"))
    with managed_app(proc) as client:
        loaded = client.post("/v1/admin/adapters", json={"name": "voice", "path": str(v2)})
    assert loaded.status_code == 400
    assert "merged into its base" in loaded.json()["error"]["message"]
    assert "vllm.mode: lora" in loaded.json()["error"]["message"]


def test_external_vllm_missing_adapter_is_named(fake_vllm):
    s = Settings(profiles={"a": {"adapter": "larkfield-voice"}, "b": {"adapter": "/x/other-voice"}}, default_profile="a")
    problems = asyncio.run(_missing(fake_vllm.url, s))
    assert len(problems) == 1 and "profile 'b' needs adapter 'other-voice'" in problems[0]


async def _missing(url, s):
    engine = Engine(url)
    try:
        return await missing_models(engine, s.profiles)
    finally:
        await engine.aclose()


class CrashingProcess(VllmProcess):
    def command(self):
        return [sys.executable, "-c", "print('CUDA out of memory, pretend'); raise SystemExit(3)"]


def test_a_vllm_that_cannot_start_fails_the_app_start_with_its_log(tmp_path):
    from fastapi.testclient import TestClient

    from assistant.app import create_app
    from assistant.vllm_process import VllmStartError

    s = settings_with(tmp_path, {"shop": {}}, port=0)
    app = create_app(s, no_auth=True, vllm=CrashingProcess(s))
    with pytest.raises(BaseException):
        with TestClient(app):
            pass
    assert isinstance(app.state.startup_error, VllmStartError)
    assert "exited with code 3" in str(app.state.startup_error)
    assert "pretend" in str(app.state.startup_error)


def test_the_merge_finishes_before_the_embedder_starts_loading(tmp_path, monkeypatch):
    """Merging imports transformers and peft, and so does loading the embedder: run in parallel
    threads they broke transformers' lazy imports ("cannot import name 'AutoModel'") and every
    merged server fell back to LoRA. The merge now runs first, alone."""
    from fastapi.testclient import TestClient

    from assistant import app as app_module
    from assistant.app import create_app

    events = []

    class Recording(CrashingProcess):
        def prepare(self):
            events.append("merge started")
            time.sleep(0.5)  # long enough for a parallel embedder load to start
            events.append("merge done")

    def load_embedder(index_for, collection):
        events.append("embedder")

    monkeypatch.setattr(app_module, "_load_embedder", load_embedder)
    s = settings_with(tmp_path, {"shop": {}}, port=0)
    with pytest.raises(BaseException):  # its vLLM cannot start; the order before that is the point
        with TestClient(create_app(s, no_auth=True, vllm=Recording(s))):
            pass
    # astart's own prepare (a no-op once merged) runs beside the embedder's load, in either order
    assert events[:2] == ["merge started", "merge done"] and "embedder" in events, events


def test_serve_reports_a_vllm_that_cannot_start_in_one_plain_error(tmp_path, monkeypatch, capsys):
    from assistant import server
    from assistant.vllm_process import VllmProcess

    monkeypatch.setattr(VllmProcess, "command", CrashingProcess.command)
    s = settings_with(tmp_path, {"shop": {}}, port=0)
    with pytest.raises(server.StartupFailed, match="exited with code 3") as failed:
        server.serve(s, "127.0.0.1", 0, no_auth=True, emit=lambda message: None)
    assert "pretend" in str(failed.value)  # the tail of vLLM's log says why
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out and "Application startup failed" not in out.err + out.out


def test_one_adapter_on_the_cpu_build_is_served_merged_and_eager(tmp_path, monkeypatch):
    from assistant import vllm_process

    monkeypatch.setattr(vllm_process, "cpu_build", lambda: True)
    adapter = make_adapter(tmp_path / "adapters" / "voice")
    proc = VllmProcess(settings_with(tmp_path, {"a": {"adapter": "voice"}, "b": {"adapter": "voice"}}))
    cmd = proc.command()
    assert proc.merged == ("voice", adapter) and not proc.lora_enabled
    assert "--enable-lora" not in cmd and "--enforce-eager" in cmd
    assert cmd[cmd.index("--served-model-name") + 1:cmd.index("--host")] == ["voice"]  # the profiles' model field
    folder = Path(cmd[cmd.index("--model") + 1])
    assert folder.parent == tmp_path / "models" / "merged" and folder.name.startswith("voice-")
    assert proc.base_path.endswith("smollm2-135m-instruct")

    # another version of the adapter is another merge
    (adapter / "adapter_model.safetensors").write_bytes(b"v2")
    assert VllmProcess(proc.settings).model_path != str(folder)


@pytest.mark.parametrize("profiles, mode, cpu", [
    ({"a": {"adapter": "voice"}, "b": {}}, "auto", True),  # the plain base is served too
    ({"a": {"adapter": "voice"}, "b": {"adapter": "tone"}}, "auto", True),  # two adapters
    ({"a": {"adapter": "voice"}}, "auto", False),  # the GPU build
    ({"a": {"adapter": "voice"}}, "lora", True),
])
def test_lora_mode_where_merging_cannot_serve_every_profile_or_is_not_wanted(tmp_path, monkeypatch,
                                                                            profiles, mode, cpu):
    from assistant import vllm_process

    monkeypatch.setattr(vllm_process, "cpu_build", lambda: cpu)
    make_adapter(tmp_path / "adapters" / "voice")
    make_adapter(tmp_path / "adapters" / "tone")
    proc = VllmProcess(settings_with(tmp_path, profiles, mode=mode))
    assert proc.merged is None and "--enable-lora" in proc.command() and "--enforce-eager" not in proc.command()


def test_an_adapter_without_weights_cannot_be_merged_and_says_so(tmp_path):
    (tmp_path / "adapters" / "voice").mkdir(parents=True)
    (tmp_path / "adapters" / "voice" / "adapter_config.json").write_text('{"r": 8}')
    with pytest.raises(ConfigError, match="has no adapter_model.safetensors.*vllm.mode: lora"):
        VllmProcess(settings_with(tmp_path, {"a": {"adapter": "voice"}}, mode="merged"))


def test_merged_mode_with_a_plain_base_profile_is_a_config_error(tmp_path):
    make_adapter(tmp_path / "adapters" / "voice")
    with pytest.raises(ConfigError, match="vllm.mode: merged serves one adapter.*set vllm.mode: lora"):
        VllmProcess(settings_with(tmp_path, {"a": {"adapter": "voice"}, "b": {}}, mode="merged"))


def test_prepare_merges_once_per_adapter_version_and_keeps_older_merges(prepared_base_model, tmp_path):
    import torch
    from safetensors.torch import load_file

    from finetune.merge import MERGED_MARKER
    from tests.vllm_fixtures import make_test_adapter

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / prepared_base_model.name).symlink_to(prepared_base_model, target_is_directory=True)
    adapter = make_test_adapter(prepared_base_model, tmp_path / "adapters" / "voice", seed=1)
    settings = Settings(home=tmp_path, profiles={"a": {"adapter": "voice"}}, default_profile="a",
                        vllm={"mode": "merged", "dtype": "float32"})
    first = VllmProcess(settings)
    first.prepare()
    folder = Path(first.model_path)
    assert (folder / MERGED_MARKER).is_file() and (folder / "tokenizer.json").is_file()
    weights = load_file(str(folder / "model.safetensors"))
    assert {w.dtype for w in weights.values()} == {torch.float32} and "lora" not in " ".join(weights)
    stamp = (folder / MERGED_MARKER).stat().st_mtime_ns
    VllmProcess(settings).prepare()
    assert (folder / MERGED_MARKER).stat().st_mtime_ns == stamp  # cached: not merged again

    shutil.rmtree(adapter)
    make_test_adapter(prepared_base_model, adapter, seed=2)  # a new version of the adapter
    second = VllmProcess(settings)
    second.prepare()
    assert second.model_path != first.model_path and (Path(second.model_path) / MERGED_MARKER).is_file()
    # the earlier merge stays: a server sharing this home may still serve it (and restart from it)
    assert (folder / MERGED_MARKER).is_file()
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted([folder.name, Path(second.model_path).name])


@pytest.mark.parametrize("mode", ["auto", "merged"])
def test_a_merge_that_fails_is_lora_mode_in_auto_and_an_error_in_merged(tmp_path, monkeypatch, mode):
    from assistant import vllm_process

    monkeypatch.setattr(vllm_process, "cpu_build", lambda: True)
    adapter = make_adapter(tmp_path / "adapters" / "voice")  # empty weights: peft cannot load them
    proc = VllmProcess(settings_with(tmp_path, {"a": {"adapter": "voice"}}, mode=mode))
    assert proc.merged == ("voice", adapter)
    if mode == "merged":
        with pytest.raises(vllm_process.VllmStartError, match="merging adapter voice .* failed"):
            proc.prepare()
        return
    proc.prepare()
    cmd = proc.command()
    assert proc.merged is None and proc.lora_enabled and "--enable-lora" in cmd and "--enforce-eager" not in cmd
    assert cmd[cmd.index("--model") + 1] == proc.base_path and f"voice={adapter}" in cmd
    assert "serving adapter voice with LoRA instead" in (tmp_path / "logs" / "vllm.log").read_text()
    merged = tmp_path / "models" / "merged"
    assert not merged.exists() or not list(merged.iterdir())  # no half-written merge left


def test_auto_mode_serves_an_adapter_it_cannot_merge_with_lora(tmp_path, monkeypatch):
    from assistant import vllm_process

    monkeypatch.setattr(vllm_process, "cpu_build", lambda: True)
    (tmp_path / "adapters" / "voice").mkdir(parents=True)
    (tmp_path / "adapters" / "voice" / "adapter_config.json").write_text('{"r": 8}')
    proc = VllmProcess(settings_with(tmp_path, {"a": {"adapter": "voice"}}))
    assert proc.merged is None and "--enable-lora" in proc.command()
