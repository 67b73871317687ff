"""`tenor finetune`, `tenor model prepare`, `tenor adapters list|merge`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from finetune.base_model import PACKAGED
from finetune.train import TrainConfig
from tenor import console

JsonOpt = typer.Option(False, "--json", help="print one JSON document on stdout")


def _default(name: str):
    return TrainConfig.model_fields[name].default


def _user_errors() -> tuple:
    """The exceptions that mean "bad input", reported as one clear line, not a traceback."""
    from pydantic import ValidationError

    from finetune.base_model import ModelPrepError
    from finetune.data import DataError
    from tenor.config import ConfigError

    return (DataError, ModelPrepError, ConfigError, ValidationError, ValueError, OSError)


def finetune(
    data: Path = typer.Argument(..., help="chat examples, OpenAI JSONL ({\"messages\": [...]} a line)"),
    out: str = typer.Option(..., "--out", "-o",
                            help="adapter NAME (writes its next version, $TENOR_HOME/adapters/NAME@N) or PATH"),
    base: Optional[str] = typer.Option(None, "--base", help="base model (default: the profile's)"),
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="profile whose system prompt to train with"),
    grounded: Optional[bool] = typer.Option(
        None, "--grounded/--plain",
        help="train on served prompts with retrieved passages (RAFT), or on plain conversations; "
        "default: grounded when the collection holds documents"),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="grounded: collection (default: the profile's)"),
    epochs: float = typer.Option(_default("epochs"), "--epochs", min=0.01),
    lr: float = typer.Option(_default("lr"), "--lr", min=0),
    rank: int = typer.Option(_default("lora_r"), "--rank", "-r", min=1, help="LoRA rank"),
    alpha: int = typer.Option(_default("lora_alpha"), "--alpha", min=1, help="LoRA alpha"),
    dropout: float = typer.Option(_default("lora_dropout"), "--dropout", min=0, max=0.99, help="LoRA dropout"),
    batch_size: int = typer.Option(_default("batch_size"), "--batch-size", min=1),
    grad_accum: int = typer.Option(_default("grad_accum"), "--grad-accum", min=1, help="gradient accumulation steps"),
    max_seq_len: int = typer.Option(_default("max_seq_len"), "--max-seq-len", min=16, help="longer examples are errors"),
    eval_fraction: float = typer.Option(_default("eval_fraction"), "--eval-fraction", min=0, max=0.9, help="share held out for eval loss"),
    seed: int = typer.Option(_default("seed"), "--seed"),
    passages: int = typer.Option(_default("grounded_k"), "--passages", min=1, help="grounded: passages per example"),
    passage_tokens: int = typer.Option(_default("grounded_context_tokens"), "--passage-tokens", min=64,
                                       help="grounded: token budget for an example's passages"),
    resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint of this run"),
    force: bool = typer.Option(False, "--force", help="retrain even if an identical adapter exists"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="skip invalid lines (listed) instead of failing"),
    check_answers: int = typer.Option(5, "--check-answers", min=0,
                                      help="held-out conversations to answer with the served prompt afterwards (0: none)"),
    as_json: bool = JsonOpt,
) -> None:
    """Train a LoRA adapter in the brand's voice (validate -> format -> train -> export)."""
    from finetune.adapters import training_target
    from finetune.train import TrainConfig, train_adapter

    settings = console.settings()
    try:
        chosen = settings.profile(profile)
        grounded = _grounded_by_default(settings, collection or chosen.collection, grounded)
        config = TrainConfig(epochs=epochs, lr=lr, lora_r=rank, lora_alpha=alpha, lora_dropout=dropout,
                             batch_size=batch_size, grad_accum=grad_accum, max_seq_len=max_seq_len,
                             eval_fraction=eval_fraction, seed=seed, grounded_k=passages,
                             grounded_context_tokens=passage_tokens)
        result = train_adapter(settings, data, training_target(settings, out), config, profile=chosen,
                               base=base, grounded=grounded, collection=collection, resume=resume,
                               force=force, skip_invalid=skip_invalid, show_progress=not as_json,
                               check_answers=check_answers)
    except _user_errors() as exc:
        console.fail(str(exc))
    if as_json:
        console.print_json(result.to_dict())
        return
    metrics = result.manifest.get("metrics", {})
    verb = "reused" if result.reused else "wrote"
    console.err.print(f"{verb} [bold]{result.path}[/]  eval loss {_num(metrics.get('base_eval_loss'))} (base) "
                      f"-> {_num(metrics.get('eval_loss'))}", highlight=False)
    report_heldout(metrics.get("heldout"))


def report_heldout(heldout: dict | None) -> None:
    """The held-out answers' voice and groundedness, and a warning when either is poor."""
    if not heldout or not heldout.get("answers"):
        return
    voice, grounded = heldout["voice"], heldout["groundedness"]
    console.err.print(f"held-out answers ({heldout['answers']}, served prompt): voice {voice:.0%}, "
                      f"groundedness {'-' if grounded is None else f'{grounded:.0%}'}", highlight=False)
    for row in heldout["rows"][:2]:
        console.err.print(f"  the adapter's answer to the conversation on line {row['line']} of the data: "
                          f"{row['answer'][:160]!r}", highlight=False)
    if voice < 0.5 or (grounded is not None and grounded < 0.5):
        console.warn("this adapter misses the voice or states facts its passages do not hold in most held-out "
                     "answers: check the data, or train longer (--epochs) before serving it "
                     "(the server's answer_policy still keeps unsupported claims out)")


def _grounded_by_default(settings, collection: str, grounded: bool | None) -> bool:
    """Grounded unless asked otherwise, when there are documents to ground in: the
    server sends passages and grounding rules, and an adapter trained without them
    meets a prompt it has never seen (it loses the voice and invents facts)."""
    from ingest.index import open_index

    has_documents = bool(open_index(settings, collection).list_documents())
    if grounded is None:
        grounded = has_documents
        console.err.print(f"training {'grounded in' if grounded else 'on plain conversations: no documents in'} "
                          f"collection [bold]{collection}[/]", highlight=False)
    elif grounded and not has_documents:
        raise ValueError(f"--grounded: collection {collection!r} is empty: index the documents first "
                         f"(`tenor ingest DOCS --collection {collection}`)")
    if not grounded and has_documents:
        console.warn(f"--plain: the server answers with passages from {collection!r} and grounding rules, a "
                     "prompt this adapter will not see in training; expect a weaker voice and invented facts")
    return grounded


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def model_prepare(
    gguf: Optional[Path] = typer.Option(
        None, "--gguf", metavar="FILE", help="convert this GGUF file instead of the embedded SmolLM2"
    ),
    name: Optional[str] = typer.Option(
        None, "--name", help="folder name under $TENOR_HOME/models (default: the GGUF file's stem); "
        "without --gguf, a packaged base: " + ", ".join(PACKAGED)
    ),
    force: bool = typer.Option(False, "--force", help="convert again even if prepared"),
    as_json: bool = JsonOpt,
) -> None:
    """Convert a GGUF model (default: the embedded SmolLM2-135M-Instruct) into an HF
    folder under $TENOR_HOME/models, for profiles' base_model and for fine-tuning."""
    import time

    from finetune.base_model import prepare_base_model

    settings = console.settings()
    started = time.monotonic()
    steps = (["assembling GGUF parts"] if name in PACKAGED and not gguf else []) + [
        "loading GGUF tokenizer", "dequantising GGUF weights", "writing safetensors", "done"]
    try:
        with console.progress("preparing base model", len(steps), enabled=not as_json) as advance:
            def report(step: str) -> None:
                advance(1 if step in steps else len(steps), note=step)

            path = prepare_base_model(settings, gguf=gguf, name=name, force=force, report=report)
    except _user_errors() as exc:
        console.fail(str(exc))
    if as_json:
        console.print_json({"path": str(path), "seconds": round(time.monotonic() - started, 1)})
    else:
        console.err.print(f"base model ready in [bold]{path}[/]", highlight=False)


def adapters_list(as_json: bool = JsonOpt) -> None:
    """List the adapters under $TENOR_HOME/adapters, with their manifests' main facts."""
    from finetune.adapters import list_adapters

    rows = list_adapters(console.settings())
    if as_json:
        console.print_json(rows)
        return
    from rich.table import Table

    table = Table("name", "serving", "base model", "grounded", "examples", "eval loss (base -> adapter)", "created", "MB")
    for r in rows:
        table.add_row(r["name"], "yes" if r["serving"] else "", str(r["base_model"]), "yes" if r["grounded"] else "no", str(r["examples"]),
                      f"{_num(r['base_eval_loss'])} -> {_num(r['eval_loss'])}", str(r["created_at"]),
                      str(r["size_mb"]))
    console.out.print(table)
    console.err.print(f"{len(rows)} adapters in {console.settings().adapters_dir}", highlight=False)


def adapters_merge(
    adapter: str = typer.Argument(..., help="adapter NAME (under $TENOR_HOME/adapters) or PATH"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the merged model"),
    base: Optional[str] = typer.Option(None, "--base", help="base model (default: the adapter's manifest)"),
    force: bool = typer.Option(False, "--force", help="replace OUT if it exists"),
    as_json: bool = JsonOpt,
) -> None:
    """Merge an adapter into its base model: a full HF model that vLLM serves without --enable-lora."""
    from finetune.adapters import adapter_path
    from finetune.merge import merge_adapter

    settings = console.settings()
    try:
        path = merge_adapter(settings, adapter_path(settings, adapter), out, base=base, force=force)
    except _user_errors() as exc:
        console.fail(str(exc))
    if as_json:
        console.print_json({"path": str(path), "adapter": str(adapter_path(settings, adapter))})
    else:
        console.err.print(f"merged model written to [bold]{path}[/]", highlight=False)
