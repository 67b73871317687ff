"""What the answer pipeline adds per answer, besides generation: retrieval, evidence, verification.

    TENOR_HOME=DIR TENOR_CONFIG=examples/larkfield/tenor.yaml \\
        python bench/answer_pipeline_bench.py [QUESTIONS.jsonl] [--rounds 3] [--embeddings]

For every question of a question set (the sample's by default), ``--rounds``
times, in this process, the server's own grounding (``GroundingService.ground``)
and verification, timed separately:

- **retrieval**: ``Index.search`` on the conversation's query (embedding the
  query with the real model, querying Chroma);
- **evidence**: the follow-up's subject, the names no document mentions, and
  ``tenor.evidence.gather`` (the units by words, and by meaning with the embedder
  when the words cover less than ``min_coverage``; unit vectors are cached, so the
  first round embeds them) on the passages above ``min_score``, then, when words
  and meaning fall short and the profile has a ``retrieval.reader``, the reader;
- **verification**, for the questions let in: as the server, the quote the reader
  picks where it let the question in (``ChatService.quoted``), else
  ``ChatService.verify`` on an answer in the brand's voice (greeting, the item's
  expected answer, sign-off);
  with ``--embeddings`` (``verify.embeddings``), attribution also embeds the
  sentences and passages.

Prints p50/p95 milliseconds per step (verification: over the questions let in)
and for the three together (per question). The
collection must be indexed (``tenor ingest examples/larkfield/docs``). Torch
runs on one thread, as in the server (``assistant.app._load_embedder``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from assistant.chat_service import ChatService
from assistant.grounding import GroundingService
from assistant.metrics import Metrics
from evaluation.runner import conversation, load_question_set
from ingest.index import open_index
from tenor import console

QUESTIONS = Path(__file__).resolve().parents[1] / "examples" / "larkfield" / "eval" / "questions.jsonl"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("questions", nargs="?", type=Path, default=QUESTIONS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embeddings", action="store_true", help="verification also compares embeddings")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()

    settings = console.settings()
    profile = settings.profile(args.profile).model_copy(deep=True)
    profile.verify.embeddings = args.embeddings
    index = open_index(settings, profile.collection)
    import torch

    torch.set_num_threads(1)
    grounding = GroundingService(settings, lambda name: index)
    grounding.meter_for(profile)  # the base model's tokenizer, loaded before timing, as the server does
    chat = ChatService(settings, grounding, engine=None, metrics=Metrics())  # verification only: no engine
    if (reader := grounding.reader(profile)) is not None:
        reader.load()
    items = load_question_set(args.questions)
    greeting, sign_off = profile.voice.frame()
    index.search("warm up", k=profile.retrieval.k)

    times: dict[str, list[float]] = {"retrieval": [], "evidence": [], "verification": []}
    total: list[float] = []
    by_meaning = read = 0
    for _ in range(args.rounds):
        for item in items:
            grounded = grounding.ground(profile, conversation(item))
            by_meaning += grounded.similarity is not None
            read += grounded.read is not None
            times["retrieval"].append(grounded.retrieval_s)
            times["evidence"].append(grounded.evidence_s)
            verification = 0.0
            if grounded.no_answer is None:  # a refused question is not verified
                t0 = time.perf_counter()
                if chat.quoted(profile, grounded) is None:  # the reader's quote, as the server, or the answer checked
                    chat.verify(profile, grounded, f"{greeting} {item.get('expected', '')} {sign_off}")
                verification = time.perf_counter() - t0
                times["verification"].append(verification)
            total.append(grounded.retrieval_s + grounded.evidence_s + verification)

    steps = len(times["evidence"])
    print(f"{len(items)} questions x {args.rounds} rounds from {args.questions}, profile {profile.name}, "
          f"embeddings in verification: {'yes' if args.embeddings else 'no'}; "
          f"{by_meaning} of {steps} evidence steps scored meaning too (words short of min_coverage), "
          f"{read} asked the reader ({profile.retrieval.reader or 'none'}), "
          f"{len(times['verification'])} verified (the others refused)")
    print(f"{'step':<14}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for name, values in [*times.items(), ("all three", total)]:
        if not values:
            print(f"{name:<14}{'-':>9}{'-':>9}{'-':>9}")
            continue
        print(f"{name:<14}{pct(values, 50) * 1000:>9.1f}{pct(values, 95) * 1000:>9.1f}"
              f"{statistics.mean(values) * 1000:>9.1f}")


if __name__ == "__main__":
    main()
