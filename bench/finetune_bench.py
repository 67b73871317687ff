"""Training throughput: Tenor's trainer vs a plain peft + transformers baseline.

Both train the same LoRA (same model, data, batch size, steps, seed) with the
transformers ``Trainer``. They differ only in batching, the two choices Tenor
makes for CPUs:

- tenor:    batches padded to their longest example, similar lengths grouped
            (``train_sampling_strategy="group_by_length"``);
- baseline: every batch padded to ``--max-seq-len`` (the smallest length that
            fits the data, by default), random order: the usual recipe
            (``tokenizer(..., padding="max_length")``).

Throughput counts real tokens only (non-padding), so the ratio is the speed-up
on the same work, per wall-clock second and per CPU second of the process
(steadier on a shared machine). Each run is a separate process, so each peak
RSS is its own.

    python bench/finetune_bench.py [--examples 32] [--batch-size 4] [--grounded]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
DATA = REPO / "examples" / "larkfield" / "voice" / "train.jsonl"
CONFIG = REPO / "examples" / "larkfield" / "tenor.yaml"


def features(args):
    """The sample conversations formatted by Tenor (served prompt, assistant-only labels)."""
    from finetune.data import load_examples
    from finetune.format import format_examples, plain_examples
    from finetune.train import load_tokenizer, resolve_base
    from tenor.config import load_settings

    settings = load_settings(CONFIG)
    profile = settings.profile("larkfield")
    base = resolve_base(settings, profile.base_model)
    tokenizer = load_tokenizer(base)
    examples = load_examples(DATA).examples[: args.examples]
    if args.grounded:
        from finetune.evaluate import index_retriever
        from finetune.grounded import build_grounded_examples

        built = build_grounded_examples(examples, retrieve=index_retriever(settings, profile.collection),
                                        system_prompt=profile.system_prompt, no_answer_text=profile.no_answer,
                                        k=2, max_context_tokens=256, seed=42)
    else:
        built = plain_examples(examples, profile.system_prompt)
    feats, _ = format_examples(tokenizer, built, max_seq_len=4096, file=str(DATA))
    return base, tokenizer, feats


def run_one(args) -> dict:
    """One training run in this process; prints its figures as JSON."""
    from finetune.train import PadToLongest, TrainConfig, load_lora_model, make_trainer

    base, tokenizer, feats = features(args)
    pad_to = max(len(f) for f in feats) if args.max_seq_len is None else args.max_seq_len
    config = TrainConfig(batch_size=args.batch_size, max_steps=len(feats) // args.batch_size, epochs=1,
                         eval_fraction=0, group_by_length=args.one == "tenor", max_seq_len=pad_to)
    model = load_lora_model(base, config)
    out = Path(args.workdir) / args.one
    trainer = make_trainer(model, tokenizer, feats, [], config, out, show_progress=False)
    trainer.args.save_strategy = "no"
    if args.one == "baseline":
        trainer.data_collator = PadToLongest(tokenizer.pad_token_id, pad_to=pad_to)
    started, cpu_started = time.monotonic(), time.process_time()
    trainer.train()
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    tokens = int(trainer.state.num_input_tokens_seen)
    return {"run": args.one, "steps": trainer.state.global_step, "real_tokens": tokens,
            "seconds": round(seconds, 1), "tokens_per_s": round(tokens / seconds, 1),
            "cpu_seconds": round(cpu, 1), "tokens_per_cpu_s": round(tokens / cpu, 1),
            "padded_to": "longest in batch" if args.one == "tenor" else pad_to,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=32, help="sample conversations to train on (one pass)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-seq-len", type=int, default=None, help="baseline padding (default: longest example)")
    parser.add_argument("--grounded", action="store_true", help="grounded prompts (needs the indexed collection)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "finetune_bench.json")
    parser.add_argument("--one", choices=["tenor", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default="/tmp/tenor-finetune-bench", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args)))
        return

    rows = {}
    for name in ("tenor", "baseline"):
        command = [sys.executable, __file__, "--one", name, "--examples", str(args.examples),
                   "--batch-size", str(args.batch_size)] + (["--grounded"] if args.grounded else [])
        if args.max_seq_len:
            command += ["--max-seq-len", str(args.max_seq_len)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{name} run failed:\n{done.stderr[-3000:]}")
        rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = rows["tenor"]["tokens_per_s"] / rows["baseline"]["tokens_per_s"]
    cpu_ratio = rows["tenor"]["tokens_per_cpu_s"] / rows["baseline"]["tokens_per_cpu_s"]

    print(f"LoRA training throughput, SmolLM2-135M, {args.examples} sample conversations"
          f"{' (grounded)' if args.grounded else ''}, batch {args.batch_size}, one pass")
    print(f"{'run':<10}{'padding':<18}{'steps':>6}{'real tokens':>12}{'seconds':>9}{'tokens/s':>10}"
          f"{'CPU s':>8}{'tokens/CPU s':>14}{'peak RSS MB':>13}")
    for r in rows.values():
        print(f"{r['run']:<10}{str(r['padded_to']):<18}{r['steps']:>6}{r['real_tokens']:>12}{r['seconds']:>9}"
              f"{r['tokens_per_s']:>10}{r['cpu_seconds']:>8}{r['tokens_per_cpu_s']:>14}{r['peak_rss_mb']:>13}")
    print(f"ratio tenor / baseline: {ratio:.2f}x wall-clock, {cpu_ratio:.2f}x per CPU second (target >= 1.0)")
    print("(on a shared machine, wall-clock figures move with other load; CPU seconds much less)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**rows, "ratio": round(ratio, 2), "cpu_ratio": round(cpu_ratio, 2), "examples": args.examples,
                                     "batch_size": args.batch_size, "grounded": args.grounded}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
