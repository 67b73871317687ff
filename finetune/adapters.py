"""Adapter folders on disk: where they live, what their manifest says. No torch here."""

from __future__ import annotations

import json
from pathlib import Path

from tenor.config import Settings

MANIFEST = "tenor.json"
# The two files vLLM (and peft) read; anything else in the folder is ours.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_path(settings: Settings, name_or_path: str | Path) -> Path:
    """A bare name means ``$TENOR_HOME/adapters/NAME``; anything with a slash is a path."""
    text = str(name_or_path)
    if "/" in text or "\\" in text or text.startswith((".", "~")):
        return Path(text).expanduser()
    return settings.adapters_dir / text


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_adapter(folder: Path) -> bool:
    return all((Path(folder) / name).is_file() for name in ADAPTER_FILES)


def list_adapters(settings: Settings) -> list[dict]:
    """Adapters under ``settings.adapters_dir``, with their manifests' main facts."""
    rows = []
    folder = settings.adapters_dir
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_dir() or path.name.startswith(".") or not is_adapter(path):
            continue
        manifest = read_manifest(path) or {}
        metrics = manifest.get("metrics", {})
        rows.append({
            "name": path.name,
            "path": str(path),
            "base_model": manifest.get("base_model_name") or manifest.get("base_model"),
            "grounded": manifest.get("grounded"),
            "collection": manifest.get("collection"),
            "examples": manifest.get("data", {}).get("examples"),
            "base_eval_loss": metrics.get("base_eval_loss"),
            "eval_loss": metrics.get("eval_loss"),
            "created_at": manifest.get("created_at"),
            "size_mb": round(sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6, 1),
        })
    return rows
