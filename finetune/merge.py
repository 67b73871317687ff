"""Merge a LoRA adapter into its base model: one plain HF model folder.

The result (safetensors + config + tokenizer with its chat template) is served
by vLLM as an ordinary model, without ``--enable-lora``: no adapter overhead
per token, at the cost of one full model copy per brand. The config keeps the
base model's RoPE theta where vLLM reads it (``base_model.py`` writes
SmolLM2's into the converted folder; a merge must not lose it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from finetune.adapters import is_adapter, read_manifest
from tenor.config import Settings

MERGED_MARKER = "tenor-merged.json"


def merge_adapter(settings: Settings, adapter: Path, out: Path | str, *, base: str | None = None,
                  force: bool = False, dtype: str = "bfloat16") -> Path:
    """Write ``base + adapter`` (``merge_and_unload``) to ``out``; returns ``out``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.train import resolve_base

    adapter, out = Path(adapter), Path(out)
    if not is_adapter(adapter):
        raise ValueError(f"{adapter}: not an adapter folder (needs adapter_config.json and "
                         "adapter_model.safetensors); see `tenor adapters list`")
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} exists and is not empty (pass --force to replace it)")
    manifest = read_manifest(adapter) or {}
    setting = "--base" if base else f"{adapter}'s base model (pass --base to use another)"
    if base is None:
        base = manifest.get("base_model_name") or manifest.get("base_model")
        if base is None:
            base = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{adapter}: the base model is unknown; pass --base")
    base_path = resolve_base(settings, base, setting=setting)

    # Merge in fp32 (bf16 adds of a small delta lose precision), then save in ``dtype``.
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged = merged.to(getattr(torch, dtype))
    tokenizer = AutoTokenizer.from_pretrained(adapter if (adapter / "tokenizer_config.json").is_file() else base_path)

    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    _keep_rope_theta(Path(base_path) / "config.json", tmp / "config.json")
    (tmp / MERGED_MARKER).write_text(json.dumps(
        {"base_model": base, "adapter": str(adapter.resolve()), "adapter_manifest": manifest, "dtype": dtype},
        indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)
    return out


def _rope_theta(config: dict):
    return (config.get("rope_parameters") or {}).get("rope_theta") or config.get("rope_theta")


def _keep_rope_theta(base_config: Path, merged_config: Path) -> None:
    """Give the merged config the base model's RoPE theta, in both places vLLM may read it."""
    if not base_config.is_file():
        return
    theta = _rope_theta(json.loads(base_config.read_text()))
    config = json.loads(merged_config.read_text())
    if theta is None or _rope_theta(config) == theta and config.get("rope_theta", theta) == theta:
        return
    config["rope_theta"] = theta
    if isinstance(config.get("rope_parameters"), dict):
        config["rope_parameters"]["rope_theta"] = theta
    merged_config.write_text(json.dumps(config, indent=2))
