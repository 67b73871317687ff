"""Tenor's serving overhead: the assistant server against vLLM directly, then merged vs LoRA.

    python bench/server_bench.py [--requests 16] [--serial-requests 6] [--max-tokens 48] [--concurrency 1 16] [--rounds 2]
                                 [--adapter DIR] [--home DIR] [--no-merged] [--json FILE]

One run, one vLLM (CPU build here), the same model, adapter and prompts:

1. LoRA: vLLM started with ``--enable-lora`` and the adapter; `tenor serve
   --vllm-url` in front of it. Each sample question goes (a) to Tenor as the raw
   question, and (b) straight to vLLM as the exact grounded prompt Tenor builds
   for it (same prompt builder, same index). Greedy decoding, streamed, vLLM's
   prefix cache off (else whichever side goes second finds its prompts cached);
   at concurrency 1 each prompt goes to both sides back to back (order alternating),
   at higher concurrency batches alternate A-B-B-A, so load drift on a shared
   machine hits both sides alike. For each
   concurrency: time to first token (p50) and tokens/s for both, their ratio
   (target >= 0.95), and Tenor's added TTFT against its retrieval time (from the
   server's own /metrics; target: added TTFT <= retrieval + 10 ms).
2. Merged: the adapter merged into the base (`finetune.merge`), served without
   ``--enable-lora``; the same prompts straight to vLLM, against the LoRA figures.

Without ``--adapter`` it uses ``$HOME/adapters/larkfield-voice`` if present,
else makes a random rank-16 adapter on every linear projection (the shape
`tenor finetune` trains; speed depends on the shape, not on the weights).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "larkfield"

import httpx  # noqa: E402
import yaml  # noqa: E402

from tenor.net import free_port  # noqa: E402



def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (EXAMPLES / "questions.jsonl").read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows][:n]


# -- one streamed request ---------------------------------------------------------------

async def stream_one(client: httpx.AsyncClient, url: str, body: dict) -> tuple[float, int, float]:
    """(time to first content token, completion tokens, seconds) for one streamed request."""
    started = time.perf_counter()
    ttft, tokens = None, 0
    async with client.stream("POST", url, json={**body, "stream": True,
                                                "stream_options": {"include_usage": True}}) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {(await r.aread())[:300]!r}")
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if ttft is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                ttft = time.perf_counter() - started
            if chunk.get("usage") and not chunk.get("choices"):
                tokens = chunk["usage"]["completion_tokens"]
    total = time.perf_counter() - started
    return (ttft if ttft is not None else total), tokens, total


async def run_batch(url: str, bodies: list[dict], concurrency: int, warm: bool = True) -> dict:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=600) as client:
        async def one(body):
            async with limit:
                return await stream_one(client, url, body)

        if warm:
            await one(bodies[0])  # warm-up (not counted)
        started = time.perf_counter()
        results = await asyncio.gather(*(one(b) for b in bodies))
        wall = time.perf_counter() - started
    return {"ttfts": [r[0] for r in results], "tokens": sum(r[1] for r in results), "wall_s": wall}


def summarise(batches: list[dict]) -> dict:
    """Several batches of one side: TTFT p50 over every request, tokens/s over all the time."""
    ttfts = [t for b in batches for t in b["ttfts"]]
    tokens, wall = sum(b["tokens"] for b in batches), sum(b["wall_s"] for b in batches)
    return {"ttft_p50_ms": statistics.median(ttfts) * 1000, "tokens": tokens, "wall_s": wall,
            "tok_s": tokens / wall, "batches": len(batches)}


def paired_serial(a_url: str, a_bodies: list[dict], b_url: str, b_bodies: list[dict], rounds: int
                  ) -> tuple[dict, dict]:
    """Concurrency 1, paired: each prompt goes to A and to B back to back, the order
    alternating, so both sides see the same machine load (a LoRA prefill on a shared
    CPU varies by seconds from one minute to the next)."""
    async def run():
        a, b = [], []
        async with httpx.AsyncClient(timeout=600) as client:
            await stream_one(client, a_url, a_bodies[0])  # warm-up (not counted)
            await stream_one(client, b_url, b_bodies[0])
            for r in range(rounds):
                for i, (body_a, body_b) in enumerate(zip(a_bodies, b_bodies)):
                    if (i + r) % 2 == 0:
                        a.append(await stream_one(client, a_url, body_a))
                        b.append(await stream_one(client, b_url, body_b))
                    else:
                        b.append(await stream_one(client, b_url, body_b))
                        a.append(await stream_one(client, a_url, body_a))
        return a, b

    def as_batch(rows):
        return {"ttfts": [r[0] for r in rows], "tokens": sum(r[1] for r in rows), "wall_s": sum(r[2] for r in rows)}

    a, b = asyncio.run(run())
    b_summary = summarise([as_batch(b)])
    # The paired statistic: the median of B's TTFT minus A's, prompt by prompt.
    b_summary["added_ttft_paired_p50_ms"] = statistics.median(rb[0] - ra[0] for ra, rb in zip(a, b)) * 1000
    return summarise([as_batch(a)]), b_summary


def abba(a_url: str, a_bodies: list[dict], b_url: str, b_bodies: list[dict], c: int, rounds: int) -> tuple[dict, dict]:
    """A, B, B, A, ...: each side runs as often first as last, so a drift in machine load
    (this machine is shared) weighs on both sides alike."""
    a, b = [], []
    for r in range(rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        for side in order:
            if side == "a":
                a.append(asyncio.run(run_batch(a_url, a_bodies, c, warm=not a)))
            else:
                b.append(asyncio.run(run_batch(b_url, b_bodies, c, warm=not b)))
    return summarise(a), summarise(b)


def retrieval_seconds(url: str) -> tuple[float, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = sum(float(v) for v in re.findall(r'^tenor_retrieval_seconds_sum\{[^}]*\} (\S+)$', text, re.M))
    count = sum(float(v) for v in re.findall(r'^tenor_retrieval_seconds_count\{[^}]*\} (\S+)$', text, re.M))
    return total, count


# -- setup --------------------------------------------------------------------------------

def prepare(home: Path, adapter: Path | None, prefix_caching: bool = False):
    from finetune.base_model import prepare_base_model
    from ingest.pipeline import ingest_paths
    from tenor.config import load_settings

    config = yaml.safe_load((EXAMPLES / "tenor.yaml").read_text())
    # Prefix caching off: the second side to send a prompt would find it cached and look faster.
    config["vllm"] = {"port": free_port(), "kv_cache_gb": 2,
                      "extra_args": [] if prefix_caching else ["--no-enable-prefix-caching"]}
    (home / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    settings = load_settings(home / "config.yaml", environ={"TENOR_HOME": str(home)})
    base = prepare_base_model(settings)
    target = home / "adapters" / "larkfield-voice"
    if adapter:
        if adapter.resolve() != target.resolve():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(adapter, target)
    elif not target.is_dir():
        from tests.vllm_fixtures import make_test_adapter

        # The shape `tenor finetune` trains (rank 16, every linear projection): speed depends on it.
        make_test_adapter(base, target, seed=1, rank=16, targets=(
            "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    summary = ingest_paths(settings, [EXAMPLES / "docs"], "larkfield")
    print(f"home {home}: base {base}, adapter {target}, {summary.chunks} chunks indexed", flush=True)
    return settings


def grounded_bodies(settings, prompts: list[str], max_tokens: int) -> tuple[list[dict], list[dict]]:
    """Request bodies for Tenor (the question) and for vLLM (the prompt Tenor builds)."""
    from assistant.app import make_index_for
    from assistant.engine import engine_model
    from assistant.grounding import GroundingService

    profile = settings.profile("larkfield")
    grounding = GroundingService(settings, make_index_for(settings))
    tenor, direct = [], []
    for q in prompts:
        conversation = [{"role": "user", "content": q}]
        g = grounding.ground(profile, conversation, max_tokens=max_tokens)
        if g.no_answer is not None:
            continue  # answered without the model: nothing to compare
        common = {"max_tokens": max_tokens, "temperature": 0, "seed": 0}
        tenor.append({"model": "larkfield", "messages": conversation, **common})
        direct.append({"model": engine_model(profile), "messages": g.messages, **common})
    return tenor, direct


def start_tenor(home: Path, vllm_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "TENOR_HOME": str(home), "TENOR_CONFIG": str(home / "config.yaml")}
    log = (home / "bench-serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tenor.cli", "serve", "--no-auth", "--port", str(port),
                             "--vllm-url", vllm_url], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tenor serve exited: {(home / 'bench-serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("tenor serve did not become ready")


def start_vllm(settings, label: str):
    from assistant.vllm_process import VllmProcess

    proc = VllmProcess(settings)
    started = time.perf_counter()
    print(f"starting vLLM ({label}): {' '.join(proc.command()[3:])}", flush=True)
    proc.start()
    print(f"  ready in {time.perf_counter() - started:.0f} s", flush=True)
    return proc


# -- the run --------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=16, help="prompts per batch")
    ap.add_argument("--serial-requests", type=int, default=6, help="prompts per batch at concurrency 1")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--adapter", type=Path, default=None)
    ap.add_argument("--home", type=Path, default=None, help="data directory (default: a temporary one)")
    ap.add_argument("--no-merged", action="store_true", help="skip the merged-model comparison")
    ap.add_argument("--rounds", type=int, default=2, help="batches per side, run A-B-B-A (default 2)")
    ap.add_argument("--prefix-caching", action="store_true", help="leave vLLM's prefix caching on")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1")

    home = args.home or Path(tempfile.mkdtemp(prefix="tenor-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    settings = prepare(home, args.adapter, args.prefix_caching)
    tenor_bodies, direct_bodies = grounded_bodies(settings, questions(args.requests), args.max_tokens)
    print(f"{len(direct_bodies)} grounded prompts, max_tokens {args.max_tokens}, greedy, streamed", flush=True)
    figures: dict = {"requests": len(direct_bodies), "max_tokens": args.max_tokens, "runs": []}

    vllm = start_vllm(settings, "LoRA")
    tenor = None
    try:
        tenor, tenor_url = start_tenor(home, vllm.url)
        for c in args.concurrency:
            before = retrieval_seconds(tenor_url)
            n = args.serial_requests if c == 1 else len(direct_bodies)
            compare = paired_serial if c == 1 else lambda *a: abba(*a[:4], c, a[4])
            direct, served = compare(f"{vllm.url}/v1/chat/completions", direct_bodies[:n],
                                     f"{tenor_url}/v1/chat/completions", tenor_bodies[:n], args.rounds)
            after = retrieval_seconds(tenor_url)
            retrieval_ms = (after[0] - before[0]) / max(1, after[1] - before[1]) * 1000
            figures["runs"].append({"mode": "lora", "concurrency": c, "direct": direct, "tenor": served,
                                    "retrieval_ms": retrieval_ms})
            report_overhead(c, direct, served, retrieval_ms)
    finally:
        if tenor is not None:
            tenor.send_signal(signal.SIGTERM)
            tenor.wait(30)
        vllm.stop()

    if not args.no_merged:
        from finetune.merge import merge_adapter

        merged_dir = home / "models" / "larkfield-merged"
        started = time.perf_counter()
        merge_adapter(settings, home / "adapters" / "larkfield-voice", merged_dir, force=True)
        print(f"merged the adapter into {merged_dir} in {time.perf_counter() - started:.0f} s", flush=True)
        merged = settings.model_copy(deep=True)
        merged.profiles = {"larkfield": merged.profiles["larkfield"].model_copy(
            update={"base_model": str(merged_dir), "adapter": None})}
        merged.default_profile = "larkfield"
        vllm = start_vllm(merged, "merged, no --enable-lora")
        try:
            bodies = [{**b, "model": str(merged_dir)} for b in direct_bodies]
            for c in args.concurrency:
                n = args.serial_requests if c == 1 else len(bodies)
                result = summarise([asyncio.run(run_batch(f"{vllm.url}/v1/chat/completions", bodies[:n], c,
                                                          warm=r == 0)) for r in range(args.rounds)])
                lora = next(r["direct"] for r in figures["runs"] if r["mode"] == "lora" and r["concurrency"] == c)
                figures["runs"].append({"mode": "merged", "concurrency": c, "direct": result})
                print(f"merged vs LoRA   c={c:<3} TTFT p50 {result['ttft_p50_ms']:7.1f} ms vs {lora['ttft_p50_ms']:7.1f} ms"
                      f" | {result['tok_s']:6.1f} vs {lora['tok_s']:6.1f} tok/s"
                      f" (merged is {result['tok_s'] / lora['tok_s']:.2f}x)", flush=True)
        finally:
            vllm.stop()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


def report_overhead(c: int, direct: dict, served: dict, retrieval_ms: float) -> None:
    ratio = served["tok_s"] / direct["tok_s"]
    added = served.get("added_ttft_paired_p50_ms", served["ttft_p50_ms"] - direct["ttft_p50_ms"])
    budget = retrieval_ms + 10
    print(f"Tenor vs vLLM    c={c:<3} TTFT p50 {served['ttft_p50_ms']:7.1f} ms vs {direct['ttft_p50_ms']:7.1f} ms"
          f" (added {added:+.1f} ms; retrieval {retrieval_ms:.1f} ms; budget {budget:.1f} ms: "
          f"{'ok' if added <= budget else 'OVER'})"
          f" | {served['tok_s']:6.1f} vs {direct['tok_s']:6.1f} tok/s (ratio {ratio:.3f}: "
          f"{'ok' if ratio >= 0.95 else 'BELOW 0.95'})", flush=True)


if __name__ == "__main__":
    main()
