"""Hybrid retrieval benchmark: what BM25 + rank fusion buy, and what they cost per query.

    python bench/hybrid_bench.py [--sizes 1000,10000] [--rounds 3] [--json FILE]

Prints, all measured in this run on this machine:
  1. recall@1 / recall@5 of the sample questions against their source documents,
     dense only and hybrid, on the sample documents ingested for real: the index
     set (examples/larkfield/questions.jsonl) and the answerable questions of
     the eval set (examples/larkfield/eval/questions.jsonl, asked without their
     conversation history; `tenor eval` measures them with it);
  2. per-query latency at k=4, dense and hybrid, on the sample collection and on
     collections of the given sizes: the search itself (the query vector
     computed once beforehand, so embedding noise does not hide the difference),
     the time hybrid adds (paired per query), and the one-off BM25 build after
     the collection changed. The large collections hold the sample's paragraphs
     as texts and random unit vectors (BM25 cost depends on the texts and the
     count, HNSW cost on the count and dimension; real embeddings would take an
     hour here).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from ingest.index import open_index  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402
from ingest.recall import retrieval_recall  # noqa: E402
from ingest_bench import QUESTIONS, SAMPLE_DOCS, percentile, sample_paragraphs  # noqa: E402
from tenor.config import Settings  # noqa: E402

K = 4
EVAL_QUESTIONS = REPO / "examples" / "larkfield" / "eval" / "questions.jsonl"


def answerable(path: Path) -> list[dict]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [item for item in items if item.get("source") and not item.get("unanswerable")]


def bench_recall(index, questions: list[dict]) -> dict:
    figures = {"questions": len(questions)}
    for mode in ("dense", "hybrid"):
        report = retrieval_recall(lambda item, k: index.search(item["question"], k=k, mode=mode), questions)
        figures[mode] = {"recall@1": report.recall[1], "recall@5": report.recall[5], "top1_misses": report.misses}
    return figures


def fill_texts(index, n: int, seed: int = 0) -> None:
    """``n`` chunks: two random sample paragraphs each, with random unit vectors."""
    rng = random.Random(seed)
    vectors_rng = np.random.default_rng(seed)
    paragraphs = sample_paragraphs()
    for start in range(0, n, 5000):
        size = min(5000, n - start)
        vectors = vectors_rng.standard_normal((size, index.embedder.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.collection.add(
            ids=[f"r{start + i}" for i in range(size)], embeddings=vectors,
            documents=[f"{rng.choice(paragraphs)}\n\n{rng.choice(paragraphs)}" for _ in range(size)],
            metadatas=[{"document_id": f"synthetic-{(start + i) // 20}", "source": "synthetic"}
                       for i in range(size)],
        )


def bench_latency(index, queries: list[str], rounds: int) -> dict:
    started = time.perf_counter()
    index.lexical_index()  # the collection just changed: this is the rebuild a first query pays
    build_ms = (time.perf_counter() - started) * 1000
    vectors = {q: index.embedder.encode([q])[0].tolist() for q in queries}
    dense, hybrid, added = [], [], []
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            index.search_vector(vectors[q], k=K)
            t1 = time.perf_counter()
            index._search_hybrid(q, vectors[q], K, None)
            t2 = time.perf_counter()
            dense.append((t1 - t0) * 1000)
            hybrid.append((t2 - t1) * 1000)
            added.append((t2 - t1 - (t1 - t0)) * 1000)
    return {
        "chunks": index.count(),
        "queries": len(dense),
        "bm25_build_ms": round(build_ms, 1),
        "dense_p50_ms": round(percentile(dense, 50), 2),
        "hybrid_p50_ms": round(percentile(hybrid, 50), 2),
        "added_p50_ms": round(percentile(added, 50), 2),
        "added_p95_ms": round(percentile(added, 95), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="synthetic collection sizes for latency")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the question set per collection")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    queries = [item["question"] for item in answerable(QUESTIONS)]
    with tempfile.TemporaryDirectory(prefix="tenor-hybrid-bench-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        ingest_paths(settings, [SAMPLE_DOCS], collection="bench-sample")
        sample = open_index(settings, "bench-sample")
        sample.search("warm up", k=K)  # model load and the BM25 library's import, not per-query costs

        recall = {}
        for path in (QUESTIONS, EVAL_QUESTIONS):
            name = str(path.relative_to(REPO))
            recall[name] = figures = bench_recall(sample, answerable(path))
            print(f"== recall ({name}, {figures['questions']} questions)", flush=True)
            for mode in ("dense", "hybrid"):
                print(f"  {mode:7} recall@1 {figures[mode]['recall@1']:.3f}  "
                      f"recall@5 {figures[mode]['recall@5']:.3f}")
                for miss in figures[mode]["top1_misses"]:
                    print(f"    top-1 miss: {miss['question']!r} -> {miss['top']} (source {miss['source']})")

        print(f"== latency per query (k={K}, query vector precomputed; ms)", flush=True)
        sample._lexical = None  # measure the build, as after an ingest
        latency = [bench_latency(sample, queries, args.rounds)]
        for n in [int(s) for s in args.sizes.split(",") if s]:
            index = open_index(settings, f"bench-hybrid-{n}")
            fill_texts(index, n)
            latency.append(bench_latency(index, queries, args.rounds))
        print(f"  {'chunks':>8} {'dense p50':>10} {'hybrid p50':>11} {'added p50':>10} {'added p95':>10} "
              f"{'BM25 build':>11}")
        for row in latency:
            print(f"  {row['chunks']:>8} {row['dense_p50_ms']:>10} {row['hybrid_p50_ms']:>11} "
                  f"{row['added_p50_ms']:>10} {row['added_p95_ms']:>10} {row['bm25_build_ms']:>11}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"recall": recall, "latency": latency}, indent=2))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
