"""What the answer pipeline adds per answer, besides generation: retrieval, evidence, verification.

    TENOR_HOME=DIR TENOR_CONFIG=examples/larkfield/tenor.yaml \\
        python bench/answer_pipeline_bench.py [--rounds 3] [--embeddings]

For every question of the sample question set, ``--rounds`` times, in this
process, timed separately:

- **retrieval**: ``Index.search`` on the conversation's query (embedding the
  query with the real model, querying Chroma);
- **evidence**: ``tenor.evidence.on_subject`` and ``gather`` (the units by words,
  and by meaning with the embedder when the words cover less than ``min_coverage``;
  unit vectors are cached, so the first round embeds them) on the passages above
  ``min_score``, and the names no document mentions (what ``assistant.grounding`` does);
- **verification**: ``tenor.verify.attribute`` and ``apply_policy`` on an
  answer in the brand's voice (greeting, the item's expected answer, sign-off);
  with ``--embeddings``, attribution also embeds the sentences and passages.

Prints p50/p95 milliseconds per step and for the three together. The
collection must be indexed (``tenor ingest examples/larkfield/docs``). Torch
runs on one thread, as in the server (``assistant.app._load_embedder``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from evaluation.runner import conversation, load_question_set
from ingest.index import open_index
from tenor import console
from ingest.embedder import closeness
from tenor.evidence import gather, names, on_subject
from tenor.prompt import retrieval_query
from tenor.verify import apply_policy, attribute, checkable

QUESTIONS = Path(__file__).resolve().parents[1] / "examples" / "larkfield" / "eval" / "questions.jsonl"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embeddings", action="store_true", help="verification also compares embeddings")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()

    settings = console.settings()
    profile = settings.profile(args.profile)
    index = open_index(settings, profile.collection)
    import torch

    torch.set_num_threads(1)
    embedder = index.embedder
    items = load_question_set(QUESTIONS)
    greeting, sign_off = profile.voice.frame()
    index.search("warm up", k=profile.retrieval.k)

    times: dict[str, list[float]] = {"retrieval": [], "evidence": [], "verification": []}
    by_meaning = 0
    for _ in range(args.rounds):
        for item in items:
            query = retrieval_query(conversation(item))
            t0 = time.perf_counter()
            passages = [p for p in index.search(query, k=profile.retrieval.k) if p.score >= profile.retrieval.min_score]
            t1 = time.perf_counter()
            passages = on_subject(passages, conversation(item), index.headings())
            last = item["question"]
            unknown = index.unmentioned(names(last))  # as the server: such a question embeds nothing
            evidence, _, similarity = gather(
                query, [query, last], passages, profile.retrieval.evidence_tokens,
                min_coverage=profile.retrieval.min_coverage, min_similarity=profile.retrieval.min_similarity,
                meaning=None if unknown else lambda: closeness(embedder, [last, query]))  # noqa: B023 (called here)
            by_meaning += similarity is not None
            t2 = time.perf_counter()
            answer = f"{greeting} {item.get('expected', '')} {sign_off}"
            attribution = attribute(answer, [checkable({"text": e.full_text, "section": e.section}) for e in evidence],
                                    min_support=profile.verify.min_support,
                                    embed=embedder.encode if args.embeddings else None,
                                    voice_phrases=[greeting, sign_off])
            apply_policy(profile.answer_policy, answer, attribution, evidence, no_answer=profile.no_answer,
                         refused=False, question=item["question"], min_coverage=profile.retrieval.min_coverage,
                         min_similarity=profile.retrieval.min_similarity, greeting=greeting, sign_off=sign_off)
            t3 = time.perf_counter()
            times["retrieval"].append(t1 - t0)
            times["evidence"].append(t2 - t1)
            times["verification"].append(t3 - t2)

    total = [sum(parts) for parts in zip(*times.values())]
    print(f"{len(items)} questions x {args.rounds} rounds, profile {profile.name}, "
          f"embeddings in verification: {'yes' if args.embeddings else 'no'}; "
          f"{by_meaning} of {len(times['evidence'])} evidence steps scored meaning too (words short of min_coverage)")
    print(f"{'step':<14}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for name, values in [*times.items(), ("all three", total)]:
        print(f"{name:<14}{pct(values, 50) * 1000:>9.1f}{pct(values, 95) * 1000:>9.1f}"
              f"{statistics.mean(values) * 1000:>9.1f}")


if __name__ == "__main__":
    main()
