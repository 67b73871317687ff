"""Training throughput: Tenor's trainer vs a plain peft + transformers baseline.

Both train a LoRA of the same shape (r 16, alpha 32, every linear projection)
on the same tokenized examples (Tenor's formatting: the served prompt, labels
on the assistant's tokens only), batch size, steps and seed:

- tenor:    ``finetune.train`` as ``tenor finetune`` runs it: batches padded to
            their longest example rounded up to a multiple of 64, similar
            lengths grouped (``train_sampling_strategy="group_by_length"``);
- baseline: the plain recipe, no Tenor code: ``peft.get_peft_model`` on
            ``AutoModelForCausalLM`` and a transformers ``Trainer`` with
            transformers' own ``DataCollatorForSeq2Seq`` at its default padding
            (each batch to its longest example, labels padded with -100) and the
            Trainer's default random order.

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
SEED = 42


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


def run_tenor(args, base, tokenizer, feats):
    """Tenor's trainer, as `tenor finetune` sets it up."""
    from finetune.train import TrainConfig, load_lora_model, make_trainer

    config = TrainConfig(batch_size=args.batch_size, max_steps=len(feats) // args.batch_size, epochs=1,
                         eval_fraction=0, seed=SEED)
    trainer = make_trainer(load_lora_model(base, config), tokenizer, feats, [], config,
                           Path(args.workdir) / "tenor", show_progress=False)
    trainer.args.save_strategy = "no"
    return trainer


def run_baseline(args, base, tokenizer, feats):
    """The plain peft + transformers recipe, with transformers' own collator and padding."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    set_seed(SEED)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
        LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, task_type="CAUSAL_LM",
                   target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    )
    training = TrainingArguments(
        output_dir=str(Path(args.workdir) / "baseline"), per_device_train_batch_size=args.batch_size,
        max_steps=len(feats) // args.batch_size, learning_rate=2e-4, seed=SEED, save_strategy="no",
        report_to="none", disable_tqdm=True, include_num_input_tokens_seen="non_padding",  # the measurement
    )
    return Trainer(model=model, args=training, processing_class=tokenizer,
                   train_dataset=[{"input_ids": f.input_ids, "labels": f.labels} for f in feats],
                   data_collator=DataCollatorForSeq2Seq(tokenizer))


def run_one(args) -> dict:
    """One training run in this process; prints its figures as JSON."""
    base, tokenizer, feats = features(args)
    trainer = (run_tenor if args.one == "tenor" else run_baseline)(args, base, tokenizer, feats)
    started, cpu_started = time.monotonic(), time.process_time()
    trainer.train()
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    tokens = int(trainer.state.num_input_tokens_seen)
    return {"run": args.one, "steps": trainer.state.global_step, "real_tokens": tokens,
            "seconds": round(seconds, 1), "tokens_per_s": round(tokens / seconds, 1),
            "cpu_seconds": round(cpu, 1), "tokens_per_cpu_s": round(tokens / cpu, 1),
            "padded_to": "longest, x64" if args.one == "tenor" else "longest",
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=32, help="sample conversations to train on (one pass)")
    parser.add_argument("--batch-size", type=int, default=4)
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
