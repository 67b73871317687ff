"""Fixtures for the fine-tuning tests: the real tokenizer, a tiny model, the sample index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SAMPLE_DOCS

VOICE = EXAMPLES / "voice"


@pytest.fixture(scope="session")
def tokenizer(prepared_base_model):
    """SmolLM2's own tokenizer and chat template."""
    from finetune.train import load_tokenizer

    return load_tokenizer(str(prepared_base_model))


@pytest.fixture(scope="session")
def tiny_base(shared_home, prepared_base_model) -> Path:
    """A randomly initialised 2-layer llama with SmolLM2's tokenizer: trains in seconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = shared_home / "models" / "tiny-llama"
    if (folder / "config.json").is_file():
        return folder
    tok = AutoTokenizer.from_pretrained(prepared_base_model)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def small_data(tmp_path) -> Path:
    """The first 16 sample conversations."""
    lines = (VOICE / "train.jsonl").read_text().splitlines()[:16]
    path = tmp_path / "voice.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def larkfield(tenor_home, monkeypatch):
    """The sample config (profile `larkfield`) with the data directory in a temp folder."""
    from tenor.config import load_settings

    monkeypatch.setenv("TENOR_CONFIG", str(EXAMPLES / "tenor.yaml"))
    return load_settings()


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory):
    """Settings whose collection `larkfield` holds the indexed sample documents."""
    from ingest.pipeline import ingest_paths
    from tenor.config import load_settings

    home = tmp_path_factory.mktemp("ft-index-home")
    settings = load_settings(EXAMPLES / "tenor.yaml", environ={"TENOR_HOME": str(home)})
    ingest_paths(settings, [SAMPLE_DOCS], "larkfield")
    return settings


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
