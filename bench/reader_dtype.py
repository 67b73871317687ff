"""The reader's speed and verdicts in float32 against bfloat16, on the reads the server makes.

    TENOR_HOME=DIR TENOR_CONFIG=examples/barleyhound/tenor.yaml \\
        python bench/reader_dtype.py examples/barleyhound/eval/questions.jsonl [--reads 8]

Grounds the set's questions in order as the server does (``GroundingService.ground``, the
profile's ``retrieval.reader`` in float32) and records each read the evidence gate makes,
until it has ``--reads``; then reads those again in float32 and then in bfloat16 (one model
in memory at a time), in this process, torch on every core as the server's reads are. Prints p50/p95 ms per
read for each dtype and their ratio, the largest difference in probability, and how many
verdicts at ``retrieval.reader_threshold`` differ; and whether this CPU computes in bfloat16
(``tenor.reader.native_bfloat16``), which the server's reader uses only where it does. The
collection must be indexed and the reader prepared (``tenor model prepare --name ...``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from assistant.grounding import GroundingService
from evaluation.runner import conversation, load_question_set
from ingest.index import open_index
from tenor import console
from tenor.reader import Reader, native_bfloat16


class RecordingReader(Reader):
    """A reader that keeps what it was asked to read."""

    def __init__(self, path: str, dtype: str):
        super().__init__(path, dtype)
        self.asked: list[tuple[str, str, tuple[str, ...]]] = []

    def __call__(self, question, text, earlier=(), on_read=None):
        self.asked.append((question, text, tuple(earlier)))
        return super().__call__(question, text, earlier, on_read)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def timed_reads(reader: Reader, reads: list) -> tuple[list[float], list[float]]:
    """(seconds per read, probabilities)."""
    reader.load()
    seconds, probabilities = [], []
    for question, text, earlier in reads:
        started = time.perf_counter()
        probabilities.append(reader(question, text, earlier))
        seconds.append(time.perf_counter() - started)
    return seconds, probabilities


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("questions", type=Path, help="a question set (tenor eval's JSONL)")
    parser.add_argument("--reads", type=int, default=12, help="reads compared (bfloat16 without native support is slow)")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()

    settings = console.settings()
    profile = settings.profile(args.profile)
    if not profile.retrieval.reader:
        raise SystemExit(f"profile {profile.name} has no retrieval.reader: set one (README, 'Your own company')")
    path = settings.resolve_model(profile.retrieval.reader, "retrieval.reader")
    index = open_index(settings, profile.collection)
    import torch

    torch.set_num_threads(1)  # as the server leaves it for the query embedder; a read uses every core
    recorder = RecordingReader(path, "float32")
    grounding = GroundingService(settings, lambda name: index, reader_for=lambda s, p: recorder)
    items = load_question_set(args.questions)
    grounded = 0
    for item in items:
        if len(recorder.asked) >= args.reads:
            break
        grounding.ground(profile, conversation(item))
        grounded += 1
    reads = recorder.asked[:args.reads]
    if not reads:
        raise SystemExit("the evidence gate asked the reader nothing on these questions")

    threshold = profile.retrieval.reader_threshold
    results = {"float32": timed_reads(recorder, reads)}  # appends to recorder.asked: ``reads`` is a copy
    recorder._model = None  # one model in memory at a time
    results["bfloat16"] = timed_reads(Reader(path, "bfloat16"), reads)
    words = statistics.mean(len(text.split()) for _, text, _ in reads)
    print(f"the first {len(reads)} reads the gate asked on {grounded} of the {len(items)} questions of "
          f"{args.questions} (texts of {words:.0f} words on average); reader {profile.retrieval.reader}; "
          f"native bfloat16 on this CPU: {'yes' if native_bfloat16() else 'no'}")
    print(f"{'dtype':<10}{'p50 ms':>10}{'p95 ms':>10}{'total s':>10}")
    for dtype, (seconds, _) in results.items():
        print(f"{dtype:<10}{pct(seconds, 50) * 1000:>10.0f}{pct(seconds, 95) * 1000:>10.0f}{sum(seconds):>10.1f}")
    (fast, p32), (slow, p16) = results["float32"], results["bfloat16"]
    print(f"bfloat16 / float32 time per read: p50 {pct(slow, 50) / pct(fast, 50):.2f}x, "
          f"total {sum(slow) / sum(fast):.2f}x")
    print(f"largest probability difference {max(abs(a - b) for a, b in zip(p32, p16)):.3f}; verdicts at "
          f"{threshold} that differ: {sum((a >= threshold) != (b >= threshold) for a, b in zip(p32, p16))} "
          f"of {len(reads)}")


if __name__ == "__main__":
    main()
