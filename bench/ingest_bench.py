"""Index benchmark: ingest throughput, re-ingest cost, search latency, recall.

    python bench/ingest_bench.py [--docs 120] [--sizes 1000,10000,100000] [--json FILE]

Prints, all measured in this run on this machine:
  1. ingest chunks/s (load + chunk + embed + write) as a ratio of raw
     ``SentenceTransformer.encode`` on the same chunk texts (target >= 0.85);
  2. re-ingesting the unchanged corpus as a fraction of the first ingest
     (target <= 0.03), and re-ingesting after one document changed;
  3. search latency p50/p95 at 1k, 10k, 100k chunks, query embedding
     included (target p50 <= 25 ms at 100k). The large collections are filled
     with random unit vectors (real texts would take an hour to embed here);
     HNSW search time depends on the count and dimension, not on meaning;
  4. recall@1 / recall@5 of the sample questions against their source
     documents: dense with HNSW, dense with exact (brute-force) search, and
     hybrid (BM25 + HNSW fused by rank; bench/hybrid_bench.py has its latency).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from ingest.chunking import chunk_document, embedding_text, make_splitter  # noqa: E402
from ingest.index import open_index  # noqa: E402
from ingest.loaders import load_file  # noqa: E402
from ingest.models import Passage  # noqa: E402
from ingest.pipeline import discover, ingest_paths  # noqa: E402
from ingest.recall import load_questions, retrieval_recall  # noqa: E402
from tenor.config import Settings  # noqa: E402

SAMPLE_DOCS = REPO / "examples" / "larkfield" / "docs"
QUESTIONS = REPO / "examples" / "larkfield" / "questions.jsonl"


def sample_paragraphs() -> list[str]:
    """Real sentences to build a synthetic corpus from: the sample documents' text."""
    paragraphs = []
    for source in discover([SAMPLE_DOCS])[0]:
        doc = load_file(source.path, source.document_id)
        for section in doc.sections:
            paragraphs += [p.strip() for p in section.text.split("\n\n") if len(p.strip()) > 40]
    return paragraphs


def make_corpus(folder: Path, n_docs: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    paragraphs = sample_paragraphs()
    for i in range(n_docs):
        lines = [f"# Handbook {i}", ""]
        for s in range(8):
            lines += [f"## Topic {i}.{s}", ""]
            lines += [rng.choice(paragraphs) + "\n" for _ in range(3)]
        (folder / f"doc-{i:04d}.md").write_text("\n".join(lines), encoding="utf-8")


def chunk_texts(settings: Settings, folder: Path, embedder) -> list[str]:
    splitter = make_splitter(embedder.tokenizer, settings.chunk)
    texts = []
    for source in discover([folder])[0]:
        doc = load_file(source.path, source.document_id)
        texts += [embedding_text(c, doc.title) for c in chunk_document(doc, splitter)]
    return texts


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_ingest(settings: Settings, corpus: Path) -> dict:
    index = open_index(settings, "bench-ingest")
    embedder = index.embedder
    texts = chunk_texts(settings, corpus, embedder)
    embedder.model.encode(texts[:64], batch_size=settings.embed.batch_size)  # warm up

    def raw_encode() -> float:
        started = time.perf_counter()
        embedder.model.encode(texts, batch_size=settings.embed.batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
        return time.perf_counter() - started

    raw_before = raw_encode()
    first = ingest_paths(settings, [corpus], collection="bench-ingest")
    raw_after = raw_encode()  # baseline on both sides: this machine's speed drifts
    raw_seconds = (raw_before + raw_after) / 2
    again = ingest_paths(settings, [corpus], collection="bench-ingest")
    changed_doc = sorted(corpus.iterdir())[0]
    changed_doc.write_text(changed_doc.read_text() + "\nOne more paragraph about tyres.\n")
    one_changed = ingest_paths(settings, [corpus], collection="bench-ingest")
    assert first.failed == 0 and again.unchanged == first.added and one_changed.updated == 1
    return {
        "documents": first.added,
        "chunks": len(texts),
        "raw_encode_chunks_per_s": round(len(texts) / raw_seconds, 1),
        "ingest_chunks_per_s": round(first.chunks / first.seconds, 1),
        "ingest_vs_raw_encode": round((first.chunks / first.seconds) / (len(texts) / raw_seconds), 3),
        "first_ingest_s": first.seconds,
        "unchanged_reingest_s": again.seconds,
        "unchanged_reingest_fraction": round(again.seconds / first.seconds, 4),
        "one_changed_reingest_s": one_changed.seconds,
    }


def fill_random(index, n: int, dimension: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    batch = 5000
    for start in range(0, n, batch):
        size = min(batch, n - start)
        vectors = rng.standard_normal((size, dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"r{start + i}" for i in range(size)]
        index.collection.add(
            ids=ids, embeddings=vectors,
            documents=[f"synthetic chunk {i}" for i in ids],
            metadatas=[{"document_id": f"synthetic-{(start + i) // 20}", "source": "synthetic"}
                       for i in range(size)],
        )


def bench_search(settings: Settings, sizes: list[int], queries: list[str], rounds: int) -> list[dict]:
    results = []
    for n in sizes:
        index = open_index(settings, f"bench-search-{n}")
        started = time.perf_counter()
        fill_random(index, n, index.embedder.dimension)
        fill_seconds = time.perf_counter() - started
        for q in queries[:5]:
            index.search(q, k=4)  # warm up
        total, store_only = [], []
        for _ in range(rounds):
            for q in queries:
                t0 = time.perf_counter()
                vector = index.embedder.encode([q])[0].tolist()
                t1 = time.perf_counter()
                index.search_vector(vector, k=4)
                t2 = time.perf_counter()
                total.append((t2 - t0) * 1000)
                store_only.append((t2 - t1) * 1000)
        results.append({
            "chunks": n,
            "fill_s": round(fill_seconds, 1),
            "queries": len(total),
            "p50_ms": round(percentile(total, 50), 2),
            "p95_ms": round(percentile(total, 95), 2),
            "chroma_only_p50_ms": round(percentile(store_only, 50), 2),
            "chroma_only_p95_ms": round(percentile(store_only, 95), 2),
        })
    return results


def bench_recall(settings: Settings) -> dict:
    summary = ingest_paths(settings, [SAMPLE_DOCS], collection="bench-recall")
    index = open_index(settings, "bench-recall")
    questions = load_questions(QUESTIONS)
    everything = index.collection.get(include=["embeddings", "metadatas"])
    matrix = np.asarray(everything["embeddings"], dtype=np.float32)
    chunk_docs = [m["document_id"] for m in everything["metadatas"]]

    def exact_search(item: dict, k: int) -> list[Passage]:
        scores = matrix @ index.embedder.encode([item["question"]])[0]
        return [Passage("", float(scores[i]), chunk_docs[i], "") for i in np.argsort(-scores)[:k]]

    hnsw = retrieval_recall(lambda item, k: index.search(item["question"], k=k, mode="dense"), questions)
    exact = retrieval_recall(exact_search, questions)
    hybrid = retrieval_recall(lambda item, k: index.search(item["question"], k=k, mode="hybrid"), questions)
    return {
        "questions": hnsw.questions,
        "chunks": summary.chunks,
        "recall@1": hnsw.recall[1],
        "recall@5": hnsw.recall[5],
        "exact_recall@1": exact.recall[1],
        "exact_recall@5": exact.recall[5],
        "hybrid_recall@1": hybrid.recall[1],
        "hybrid_recall@5": hybrid.recall[5],
        "top1_misses": hnsw.misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=120, help="synthetic documents to ingest")
    parser.add_argument("--sizes", default="1000,10000,100000", help="collection sizes for search latency")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the question set per size")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tenor-bench-") as tmp:
        home = Path(tmp)
        settings = Settings(home=home / "home")
        settings.embed.dtype = args.dtype
        corpus = home / "corpus"
        corpus.mkdir()
        make_corpus(corpus, args.docs)
        questions = [item["question"] for item in load_questions(QUESTIONS)]

        print(f"== ingest ({args.docs} documents, embeddings {args.dtype})", flush=True)
        ingest = bench_ingest(settings, corpus)
        for key, value in ingest.items():
            print(f"  {key:28} {value}")
        print("  target: ingest_vs_raw_encode >= 0.85, unchanged_reingest_fraction <= 0.03")

        print("== search latency (k=4, query embedding included)", flush=True)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        search = bench_search(settings, sizes, questions, args.rounds)
        print(f"  {'chunks':>8} {'p50 ms':>8} {'p95 ms':>8} {'chroma p50':>11} {'chroma p95':>11} {'fill s':>7}")
        for row in search:
            print(f"  {row['chunks']:>8} {row['p50_ms']:>8} {row['p95_ms']:>8} "
                  f"{row['chroma_only_p50_ms']:>11} {row['chroma_only_p95_ms']:>11} {row['fill_s']:>7}")
        print("  target: p50 <= 25 ms at 100k chunks")

        print("== retrieval quality (examples/larkfield/questions.jsonl)", flush=True)
        recall = bench_recall(settings)
        for key in ("questions", "chunks", "recall@1", "recall@5", "exact_recall@1", "exact_recall@5",
                    "hybrid_recall@1", "hybrid_recall@5"):
            print(f"  {key:28} {recall[key]}")
        for miss in recall["top1_misses"]:
            print(f"  top-1 miss: {miss['question']!r} -> {miss['top']} (source {miss['source']})")

    figures = {"ingest": ingest, "search": search, "recall": recall}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
