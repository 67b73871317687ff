"""Embedding search queries under concurrency: one encode per query vs shared batches.

    python bench/query_embed_bench.py [--clients 16] [--rounds 5]

``--clients`` threads each embed one different support question at the same
moment, as the server's request threads do under load, ``--rounds`` times:

- **one at a time** (the baseline): each thread calls the embedder's
  ``encode([query])``; the embedder runs one encode at a time, so they queue;
- **batched** (what ``ingest.Index.search`` does): through
  ``ingest.query_batch.QueryBatcher``, which encodes the queries waiting at the
  same moment together.

Prints the mean and p95 per-query latency of each and their ratio, measured in
the same run with the real embedding model (all-MiniLM-L6-v2).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from ingest.embedder import get_embedder
from ingest.query_batch import QueryBatcher
from tenor.config import EmbedSettings

QUESTIONS = [
    "How long is the warranty on the battery?", "Do you ship to Canada?", "What is your return policy?",
    "Can I use a third-party charger?", "How much is the Commuter C2?", "Where is the store?",
    "What does the Full Service add?", "Do gift cards expire?", "How do I make a warranty claim?",
    "What is the range of the Trail T3?", "Is crash damage covered?", "How much trade-in credit can I get?",
    "What can the Ride app do?", "How much is a Basic Tune?", "What is the Cargo K1's maximum load?",
    "Do you offer 0% financing?",
]


def concurrent_latencies(embed, clients: int) -> list[float]:
    start = threading.Barrier(clients)
    latencies = [0.0] * clients

    def one(i: int) -> None:
        start.wait()
        began = time.perf_counter()
        embed(QUESTIONS[i % len(QUESTIONS)] + f" ({i})")
        latencies[i] = time.perf_counter() - began

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    embedder = get_embedder(EmbedSettings())
    embedder.encode(QUESTIONS)  # warm up
    batcher = QueryBatcher(embedder.encode)
    sides = {"one at a time": lambda q: embedder.encode([q]), "batched": batcher.encode}
    results: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):  # alternate the sides so drift hits both
        for name, embed in sides.items():
            results[name] += concurrent_latencies(embed, args.clients)

    print(f"{args.clients} concurrent queries x {args.rounds} rounds, all-MiniLM-L6-v2 "
          f"({EmbedSettings().dtype}); batched encodes: {batcher.batches}")
    for name, values in results.items():
        p95 = statistics.quantiles(values, n=20)[-1]
        print(f"  {name:14s} mean {statistics.mean(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms")
    ratio = statistics.mean(results["one at a time"]) / statistics.mean(results["batched"])
    print(f"batched is {ratio:.2f}x faster per query (mean latency)")


if __name__ == "__main__":
    main()
