"""Voice adherence on the held-out prompts, base model vs adapter, as served.

Each held-out prompt is built the way the server builds it (passages retrieved
from the profile's collection, ``tenor.prompt.build_prompt`` with the
profile's system prompt), answered greedily with transformers, and checked
against the profile's voice rules. Eval loss comes from the adapter's
manifest (the held-out split of the training data, base vs adapter).

    TENOR_CONFIG=examples/larkfield/tenor.yaml python bench/voice_eval.py [--adapter NAME|PATH]

Needs the profile's collection indexed (`tenor ingest examples/larkfield/docs`)
and the adapter trained (`finetune.quickstart.ensure_sample_adapter`, or
`tenor finetune ... --grounded`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
PROMPTS = REPO / "examples" / "larkfield" / "voice" / "heldout.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="larkfield")
    parser.add_argument("--adapter", help="adapter NAME or PATH (default: the profile's)")
    parser.add_argument("--prompts", type=Path, default=PROMPTS)
    parser.add_argument("--no-retrieval", action="store_true", help="plain prompts, no passages")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--show", type=int, default=3, help="answers to print per model")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "voice_eval.json")
    args = parser.parse_args()

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune import evaluate
    from finetune.adapters import adapter_path, read_manifest
    from finetune.train import load_tokenizer, resolve_base
    from tenor.config import load_settings

    settings = load_settings()
    profile = settings.profile(args.profile)
    adapter = adapter_path(settings, args.adapter or profile.adapter)
    manifest = read_manifest(adapter)
    if manifest is None:
        sys.exit(f"{adapter}: no trained adapter there (train it first; see the module docstring)")
    base = resolve_base(settings, profile.base_model)
    tokenizer = load_tokenizer(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    model = PeftModel.from_pretrained(model, str(adapter)).eval()

    retrieve = None if args.no_retrieval else evaluate.index_retriever(settings, profile.collection)
    prompts = [evaluate.served_messages(profile, c, retrieve) for c in evaluate.load_prompts(args.prompts)]
    results = {}
    for name in ("base", "adapter"):
        started = time.monotonic()
        if name == "base":
            with model.disable_adapter():
                answers = evaluate.generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens)
        else:
            answers = evaluate.generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens)
        results[name] = {**evaluate.adherence(answers, profile.voice),
                         "seconds": round(time.monotonic() - started, 1)}

    metrics = manifest.get("metrics", {})
    print(f"voice adherence on {len(prompts)} held-out prompts ({args.prompts.name}), profile {profile.name}, "
          f"{'plain' if retrieve is None else 'grounded'} served prompts, adapter {adapter.name}")
    print(f"{'model':<9}{'adherence':>11}{'passed':>9}{'eval loss':>11}{'gen s':>8}")
    for name, loss in (("base", metrics.get("base_eval_loss")), ("adapter", metrics.get("eval_loss"))):
        r = results[name]
        print(f"{name:<9}{r['adherence']:>10.0%}{r['passed']:>6}/{r['total']:<2}"
              f"{'-' if loss is None else f'{loss:.3f}':>11}{r['seconds']:>8}")
    for name in ("base", "adapter"):
        for a in results[name]["answers"][: args.show]:
            print(f"\n[{name}] {'ok' if a['ok'] else 'FAIL ' + '; '.join(a['reasons'])}\n{a['text']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"profile": profile.name, "adapter": str(adapter),
                                     "grounded": retrieve is not None,
                                     "eval_loss": {"base": metrics.get("base_eval_loss"),
                                                   "adapter": metrics.get("eval_loss")},
                                     **results}, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
