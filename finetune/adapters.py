"""Adapter folders on disk: where they live, what their manifest says. No torch here."""

from __future__ import annotations

import json
from pathlib import Path

from tenor.adapter_versions import ADAPTER_FILES, AdapterVersions, is_adapter, split_ref  # noqa: F401
from tenor.config import Settings

MANIFEST = "tenor.json"


def adapter_path(settings: Settings, name_or_path: str | Path) -> Path:
    """A bare name means its serving version under ``$TENOR_HOME/adapters`` (``NAME@N``: that
    version); anything with a slash is a path."""
    text = str(name_or_path)
    return Path(text).expanduser() if _is_path(text) else settings.resolve_adapter(text)


def training_target(settings: Settings, name_or_path: str | Path) -> Path | AdapterVersions:
    """Where `tenor finetune --out` writes: a path as given, or a bare name's next version."""
    text = str(name_or_path)
    if _is_path(text):
        return Path(text).expanduser()
    name, version = split_ref(text)
    if version is not None:
        raise ValueError(f"--out {text}: name the adapter without a version ({name}); "
                         "each training writes the next version, and versions are never overwritten")
    return AdapterVersions(settings.adapters_dir, name)


def _is_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith((".", "~"))


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _serving(settings: Settings, folder: Path) -> bool:
    """Whether ``folder`` is the version its name serves (by the history, see ``tenor.adapter_versions``)."""
    try:
        return settings.resolve_adapter(split_ref(folder.name)[0]) == folder
    except ValueError:
        return False


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
            "serving": _serving(settings, path),
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
