"""Serving modes on this machine: do they answer as transformers + peft does, and how fast?

    TENOR_HOME=<home with a trained adapter> python bench/merged_parity.py \
        [--profile larkfield] [--prompts 24] [--max-tokens 48] [--modes merged lora merged-bf16 before] [--json FILE]

The prompts are the ones the server sends: each sample question grounded by
the profile's own retrieval and evidence step (questions answered without the
model are skipped), then the same questions without passages, until
``--prompts`` are collected. Each is tokenized once with the model's chat
template and every side gets those exact token ids, so the comparison is of
the numerics, not of templates. Greedy, with the profile's frequency penalty.

- reference: transformers with the base model and the adapter unmerged (peft),
  in the served dtype (``vllm.dtype``), the penalty applied as vLLM applies it
  (to the answer's own tokens).
- merged: the managed vLLM with ``vllm.mode: merged`` (the adapter merged into
  its base, served eager), the default for one adapter on the CPU build.
- lora: the managed vLLM with ``vllm.mode: lora`` (``--enable-lora``).
- merged-bf16: merged, served in bfloat16 (faster on CPUs with native bf16),
  against the same reference: how many greedy answers bf16 changes.
- before: LoRA in bfloat16 with one core kept for vLLM's front end (the
  defaults before ``vllm.dtype: auto``), on the first 4 prompts: speed only.

For each mode: how many answers are token for token the reference's, where
the others first differ, the seconds to read a prompt (p50) and tokens/s
while writing, the ratios against ``before``, and merged-bf16's against merged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

from tenor.config import load_settings

REPO = Path(__file__).resolve().parents[1]
MODES = ("merged", "lora", "merged-bf16", "before")


def served_prompts(settings, profile, n: int) -> list[list[dict]]:
    from assistant.app import make_index_for
    from assistant.grounding import GroundingService

    rows = [json.loads(line) for line in (REPO / "examples" / "larkfield" / "questions.jsonl").read_text().splitlines()
            if line.strip()]
    grounding = GroundingService(settings, make_index_for(settings))
    grounded, plain = [], []
    for row in rows:
        conversation = [{"role": "user", "content": row["question"]}]
        g = grounding.ground(profile, conversation, max_tokens=128)
        if g.no_answer is None:
            grounded.append(g.messages)
        plain.append(grounding.ground(profile, conversation, retrieval=False).messages)
    return (grounded + plain)[:n]


def reference(base_path: str, adapter: Path, prompts: list[list[int]], max_tokens: int, dtype: str,
              frequency_penalty: float, eos: list[int]) -> tuple[list[list[int]], float]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, LogitsProcessor, LogitsProcessorList

    class FrequencyPenalty(LogitsProcessor):  # vLLM's: minus penalty x count, over generated tokens only
        def __init__(self, start: int):
            self.start = start

        def __call__(self, input_ids, scores):
            counts = torch.zeros_like(scores)
            counts.scatter_add_(1, input_ids[:, self.start:], torch.ones_like(input_ids[:, self.start:], dtype=scores.dtype))
            return scores - frequency_penalty * counts

    torch.set_num_threads(os.cpu_count() or 2)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=getattr(torch, dtype))
    model = PeftModel.from_pretrained(model, str(adapter)).eval()
    outputs, started = [], time.perf_counter()
    for ids in prompts:
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=max_tokens, do_sample=False,
                                 eos_token_id=eos, pad_token_id=eos[0],
                                 logits_processor=LogitsProcessorList([FrequencyPenalty(len(ids))]))
        outputs.append(out[0, len(ids):].tolist())
    return outputs, time.perf_counter() - started


def served(settings, model: str, prompts: list[list[int]], max_tokens: int, frequency_penalty: float,
           label: str, env: dict | None = None) -> dict:
    from assistant.vllm_process import VllmProcess

    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        proc = VllmProcess(settings)
        started = time.perf_counter()
        proc.prepare()
        print(f"{label}: merged in {time.perf_counter() - started:.0f} s" if proc.merged else f"{label}:", flush=True)
        print(f"  starting vLLM: {' '.join(proc.command()[3:])}", flush=True)
        started = time.perf_counter()
        proc.start()
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    ready_s = time.perf_counter() - started
    print(f"  ready in {ready_s:.0f} s", flush=True)
    outputs, prefill, decode = [], [], []
    try:
        with httpx.Client(base_url=proc.url, timeout=900) as client:
            for ids in prompts:
                body = {"model": model, "prompt": ids, "temperature": 0, "frequency_penalty": frequency_penalty,
                        "logprobs": 0, "return_tokens_as_token_ids": True}
                t0 = time.perf_counter()
                client.post("/v1/completions", json={**body, "max_tokens": 1}).raise_for_status()  # reads the prompt
                prefill.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                client.post("/v1/completions", json={**body, "max_tokens": 1}).raise_for_status()  # now cached
                cached = time.perf_counter() - t0
                t0 = time.perf_counter()
                full = client.post("/v1/completions", json={**body, "max_tokens": max_tokens})  # cached prompt
                total = time.perf_counter() - t0
                full.raise_for_status()
                tokens = [int(t.split(":", 1)[1]) for t in full.json()["choices"][0]["logprobs"]["tokens"]]
                outputs.append(tokens)
                decode.append(max(1e-6, total - cached) / max(1, len(tokens) - 1))
    finally:
        proc.stop()
    return {"ready_s": round(ready_s, 1), "outputs": outputs, "prompts": len(prompts), "prefill_s": prefill,
            "decode_s_per_token": decode, "prefill_p50_s": round(statistics.median(prefill), 3),
            "decode_tok_s": round(1 / statistics.median(decode), 2)}


def first_difference(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def print_speedup(mode: str, result: dict, baseline: str, base: dict) -> None:
    n = min(result["prompts"], base["prompts"])
    read = statistics.median(base["prefill_s"][:n]) / statistics.median(result["prefill_s"][:n])
    write = statistics.median(base["decode_s_per_token"][:n]) / statistics.median(result["decode_s_per_token"][:n])
    print(f"{mode} against {baseline}, on the same {n} prompts: prompts read {read:.1f}x faster, "
          f"answers written {write:.1f}x faster", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default=None)
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1")

    from transformers import AutoTokenizer

    from assistant.engine import engine_model
    from assistant.vllm_process import merge_dtype

    settings = load_settings()
    profile = settings.profile(args.profile or settings.default_profile)
    if not profile.adapter:
        sys.exit(f"profile {profile.name!r} has no adapter: nothing to compare")
    adapter = settings.resolve_adapter(profile.adapter)
    base_path = settings.resolve_model(profile.base_model, f"profiles.{profile.name}.base_model")
    penalty = profile.decoding.frequency_penalty or 0.0
    dtype = merge_dtype(settings.vllm.dtype)  # concrete: what the merge and the reference use
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    eos = [tokenizer.eos_token_id]
    prompts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=True, return_dict=False)
               for m in served_prompts(settings, profile, args.prompts)]
    print(f"{len(prompts)} prompts ({statistics.median(map(len, prompts)):.0f} tokens p50), "
          f"max_tokens {args.max_tokens}, greedy, frequency_penalty {penalty}", flush=True)

    ref, ref_s = reference(base_path, adapter, prompts, args.max_tokens, dtype, penalty, eos)
    print(f"reference (transformers + peft, {dtype}): {ref_s:.0f} s", flush=True)

    figures: dict = {"prompts": len(prompts), "max_tokens": args.max_tokens, "dtype": dtype, "modes": {}}
    only = settings.model_copy(deep=True)
    only.profiles = {profile.name: profile}  # one adapter: what merged mode serves
    only.default_profile = profile.name
    for mode in args.modes:
        run = only.model_copy(deep=True)
        run.vllm.mode = "merged" if mode.startswith("merged") else "lora"
        env = None
        if mode in ("merged-bf16", "before"):
            run.vllm.dtype = "bfloat16"
        if mode == "before":
            env = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}
        result = served(run, engine_model(profile), prompts[:4] if mode == "before" else prompts, args.max_tokens,
                        penalty, mode, env)
        diffs = [first_difference(r, o) for r, o in zip(ref, result.pop("outputs"))]
        result.update(same=sum(d is None for d in diffs), first_differences=sorted(d for d in diffs if d is not None))
        figures["modes"][mode] = result
        print(f"{mode:11} same as the reference {result['same']}/{result['prompts']}; the others differ from token "
              f"{result['first_differences']}; prompt read in {result['prefill_p50_s']:.2f} s p50, "
              f"{result['decode_tok_s']:.1f} tok/s writing, ready in {result['ready_s']:.0f} s", flush=True)
    modes = figures["modes"]
    for mode, baseline in [(m, "before") for m in modes if m != "before"] + [("merged-bf16", "merged")]:
        if mode in modes and baseline in modes:
            print_speedup(mode, modes[mode], baseline, modes[baseline])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
