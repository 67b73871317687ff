"""The real server tier: `tenor serve` with a real vLLM (CPU build), started once per session.

Registered as a pytest plugin by tests/conftest.py, so any test (assistant,
widget, deploy, reliability) can ask for ``tenor_server``. It runs the real
CLI in a subprocess on a free port: the Larkfield sample config, SmolLM2-135M
served by vLLM with a real peft LoRA adapter as ``larkfield-voice``, the sample
documents (a private, editable copy) indexed into the ``larkfield`` collection.
vLLM takes about a minute to start on a CPU; everything after that is fast.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tenor.adapter_versions import AdapterVersions
from tenor.net import free_port
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "larkfield"

ADMIN_KEY = "e2e-admin-key-0001"
CHAT_KEY = "e2e-chat-key-00001"
WIDGET_KEY = "e2e-widget-key-0001"  # scope widget: the server's own origin and ``widget_page_origin``
BUDGET_WIDGET_KEY = "e2e-widget-budget-01"  # the same, with a token budget of 1 a minute (one answer, then 429)
LOOP_PROFILE, LOOP_ADAPTER = "larkfield-loop", "loop-voice"  # the improvement loop's own profile and adapter


def make_test_adapter(base_model: Path, folder: Path, seed: int = 0, alpha: int = 8, rank: int = 8,
                      targets: tuple[str, ...] = ("q_proj", "v_proj"), random: bool = True) -> Path:
    """A real peft LoRA adapter (random, non-zero weights, so it changes the outputs; with
    ``random=False``, peft's own start: the base model's outputs exactly)."""
    if (folder / "adapter_model.safetensors").is_file():
        return folder
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets),
                        init_lora_weights=not random, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(folder)
    return folder



@dataclass
class TenorServer:
    url: str
    home: Path
    docs: Path  # the indexed copy of the sample documents (edit it, then re-index)
    config: Path
    adapters: dict  # "v1" (served at start as larkfield-voice), "v2" (for hot swap)
    log: Path
    process: subprocess.Popen
    admin_key: str = ADMIN_KEY
    chat_key: str = CHAT_KEY
    widget_key: str = WIDGET_KEY
    widget_page_port: int = 0  # a free port for test pages: http://127.0.0.1:<it> is an allowed widget origin,
    # http://localhost:<it> is not
    metrics_port: int = 0  # server.metrics_port: /metrics without a key
    budget_widget_key: str = BUDGET_WIDGET_KEY

    @property
    def widget_page_origin(self) -> str:
        return f"http://127.0.0.1:{self.widget_page_port}"

    def env(self) -> dict:
        return {**os.environ, "TENOR_HOME": str(self.home), "TENOR_CONFIG": str(self.config)}

    def openai(self, key: str | None = None):
        import openai

        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key or self.admin_key, max_retries=0, timeout=300)

    def tenor(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run the `tenor` CLI against this server's data directory and config."""
        return subprocess.run([sys.executable, "-m", "tenor.cli", *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tenor_server(prepared_base_model, tmp_path_factory):
    import httpx

    from ingest.pipeline import ingest_paths
    from tenor.config import load_settings

    home = tmp_path_factory.mktemp("tenor-e2e")
    (home / "models").mkdir()
    (home / "models" / prepared_base_model.name).symlink_to(prepared_base_model, target_is_directory=True)
    adapters = {
        "v1": make_test_adapter(prepared_base_model, home / "adapters" / "larkfield-voice", seed=1),
        "v2": make_test_adapter(prepared_base_model, home / "adapter-versions" / "larkfield-voice-v2", seed=2),
        # the improvement loop's own versioned adapter (LOOP_PROFILE), version 1 serving
        "loop": make_test_adapter(prepared_base_model, home / "adapters" / f"{LOOP_ADAPTER}@1", random=False),
    }
    AdapterVersions(home / "adapters", LOOP_ADAPTER).promote(1, action="first version")
    docs = home / "docs"
    shutil.copytree(EXAMPLES / "docs", docs)

    config = yaml.safe_load((EXAMPLES / "tenor.yaml").read_text())
    # The tests of the model and the plumbing (hot swap, base vs adapter, re-indexing) need the
    # model's own words: their profiles ship them unchecked. test_verified_vllm compares
    # "larkfield-strict" (the base model, as "larkfield-base", under the default policy) with them.
    config["profiles"]["larkfield-strict"] = {**config["profiles"]["larkfield-base"], "answer_policy": "strict"}
    for name in ("larkfield", "larkfield-base"):
        config["profiles"][name] = {**config["profiles"][name], "answer_policy": "off"}
    # The improvement loop's test promotes and rolls back versions of its own adapter, and logs
    # its answers; the adapters' own words decide its eval gate.
    config["profiles"][LOOP_PROFILE] = {**config["profiles"]["larkfield"], "adapter": LOOP_ADAPTER,
                                        "log_conversations": True}
    config["api_keys"] = [{"key": ADMIN_KEY, "scope": "admin", "name": "e2e-admin"},
                          {"key": CHAT_KEY, "scope": "chat", "profiles": ["larkfield"], "name": "e2e-chat"}]
    port = free_port()
    page_port = free_port()
    origins = [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{page_port}"]
    config["api_keys"].append({"key": WIDGET_KEY, "scope": "widget", "profiles": ["larkfield"], "name": "e2e-widget",
                               "origins": origins})
    config["api_keys"].append({"key": BUDGET_WIDGET_KEY, "scope": "widget", "profiles": ["larkfield"],
                               "name": "e2e-widget-budget", "origins": origins, "tokens_per_minute": 1})
    metrics_port = free_port()
    config["server"] = {"port": port, "metrics_port": metrics_port, "reindex_roots": [str(docs)]}
    config["vllm"] = {"port": free_port(), "kv_cache_gb": 1, "max_model_len": 2048}
    config_path = home / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    settings = load_settings(config_path, environ={"TENOR_HOME": str(home)})
    summary = ingest_paths(settings, [docs], "larkfield")
    assert summary.failed == 0, summary.failures

    log = home / "serve.log"
    env = {**os.environ, "TENOR_HOME": str(home), "TENOR_CONFIG": str(config_path)}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "tenor.cli", "serve"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = TenorServer(url=f"http://127.0.0.1:{port}", home=home, docs=docs, config=config_path,
                         adapters=adapters, log=log, process=process, widget_page_port=page_port,
                         metrics_port=metrics_port)
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"`tenor serve` exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{server.url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > 600:
                pytest.fail(f"`tenor serve` not ready after 600 s:\n{log.read_text()[-4000:]}")
            time.sleep(1)
        server.startup_s = time.monotonic() - started
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
