"""Calibrate abstention: when do the documents not cover a question?

The server refuses without asking the model when no passage scores at least
``retrieval.min_score``, when the evidence holds less than
``retrieval.min_coverage`` of the question's key terms (``tenor.evidence``)
and none of its sentences is ``retrieval.min_similarity`` close to the
question in meaning (the embedder's cosine similarity) and, with a
``retrieval.reader``, the reader does not say the evidence answers it, or when the question
names something no document mentions (``retrieval.refuse_unknown_names``; measured here from the local index, not
by ``tenor eval``, which may talk to a remote server); after generation, the
verifier's verdict is the last signal (``strict`` policy). This module
measures these on a question set and prints the trade-off: the share of unanswerable questions refused against the share of
answerable ones refused by mistake, for a grid of thresholds.

    python -m evaluation.calibrate [QUESTIONS] [--profile NAME] [--k N]

It picks thresholds on one half of the questions (even lines): the most
refusals of unanswerable questions with at most 5% false refusals, and
reports them on the other half (odd lines), so the figures are not the ones
it tuned on.
Only thresholds are tuned; nothing about the questions themselves.
With a reader, it prints the reader's probability for each question short on
words and meaning, and the reader's own trade-off: refusals for each
``retrieval.reader_threshold`` at the profile's other thresholds (each
question is read once, and, as in the server's second chance, ``retrieval.dense_k``,
each of the dense search's passages not among the hybrid ones alone), with the
threshold chosen on one half and reported on the other the same way. The
trade-off of the three thresholds leaves the reader out (reading every question
at every point would take minutes a point).
``tenor eval`` draws the same curve (on every question) in its report.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Sequence

from tenor.evidence import WORDS_ONLY, Closeness, gather, names, on_subject, said, served_query
from tenor.prompt import approx_tokens
from tenor.reader import needs_reading

SCORE_GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
COVERAGE_GRID = tuple(round(0.05 * i, 2) for i in range(0, 17))  # 0 .. 0.8
SIMILARITY_GRID = (*(round(0.05 * i, 2) for i in range(10, 20)), WORDS_ONLY)  # 0.5 .. 0.95, and words only
READER_GRID = tuple(round(0.05 * i, 2) for i in range(10, 20))  # 0.5 .. 0.95
MAX_FALSE_REFUSAL = 0.05
FEW_UNANSWERABLE = 5  # unanswerable questions the reader read on the tuning half, below which none is chosen


@dataclass
class Signals:
    id: str
    unanswerable: bool
    top_score: float  # the best passage's retrieval score
    coverage: float  # of the question's key terms, by the evidence above min_score (at the profile's min_score)
    coverages: dict[float, float]  # min_score -> coverage of the evidence from passages above it
    similarities: dict[float, float] = field(default_factory=dict)  # min_score -> its closest sentence's similarity
    unknown_names: list[str] = field(default_factory=list)  # names in the question no document mentions
    read: float | None = None  # the reader's probability that the evidence answers it (asked when short on both)
    read_again: float | None = None  # the best read of the second chance's dense passages, each read alone
    admitted_again: bool = False  # the dense passages' words or meaning let it in: nothing read

    def best_read(self) -> float | None:
        """What the reader's threshold decides on: the server reads the dense passages when the
        hybrid ones are refused, so a question is let in when either read reaches it."""
        reads = [r for r in (self.read, self.read_again) if r is not None]
        return max(reads) if reads else None


def as_passage(passage) -> object:
    """A passage from ``/v1/retrieve`` (a dict) or from the index (an object)."""
    return SimpleNamespace(**passage) if isinstance(passage, dict) else passage


def measure(items: list[dict], retrieve: Callable[[dict, int], Sequence], profile, *,
            count_tokens: Callable[[str], int] = approx_tokens,
            unmentioned: Callable[[list[str]], list[str]] | None = None,
            headings: frozenset[tuple[str, str]] = frozenset(),
            closeness_to: Callable[[list[str]], Closeness] | None = None,
            reads: Callable[[list[dict], list], float] | None = None,
            dense: Callable[[dict, int], Sequence] | None = None) -> list[Signals]:
    """The signals for every item, as the server computes them (``assistant.grounding``);
    ``unmentioned`` (the index's) adds the names no document mentions, ``headings`` (the
    index's) keeps a follow-up on its subject, ``closeness_to`` (``ingest.embedder.closeness``
    with the collection's embedder) scores sentences by meaning, ``reads`` (the profile's
    reader's: conversation, evidence -> probability) reads the evidence at the profile's
    thresholds of the questions short on words and meaning (``tenor.reader.needs_reading``), and
    ``dense`` (the dense search: item, k -> passages) gives those the server's second chance
    (``retrieval.dense_k``): the dense passages not among the hybrid ones, judged by the same
    rules, each passage read alone (``Signals.read_again``: the best read, the threshold aside;
    ``admitted_again``: their words or meaning let it in)."""
    from evaluation.runner import conversation

    out = []
    for item in items:
        turns = conversation(item)
        passages = [as_passage(p) for p in retrieve(item, profile.retrieval.k)]
        if profile.retrieval.follow_ups_keep_subject:
            passages = on_subject(passages, turns, headings)
        query = served_query(turns, profile.voice.phrases(), unmentioned)
        scorer = closeness_to([item["question"], query]) if closeness_to else None  # embedded once per item
        coverages, similarities, evidence = {}, {}, {}
        for min_score in sorted({*SCORE_GRID, profile.retrieval.min_score}):
            kept = [p for p in passages if p.score >= min_score]
            evidence[min_score], coverages[min_score], similarity = gather(  # both signals, whatever the thresholds
                query, [query, item["question"]], kept, profile.retrieval.evidence_tokens, count_tokens,
                min_coverage=2.0, min_similarity=0.0, meaning=scorer and (lambda: scorer))  # noqa: B023
            similarities[min_score] = similarity or 0.0
        unknown = unmentioned(names(item["question"])) if unmentioned and profile.retrieval.refuse_unknown_names \
            else []
        at, rules = profile.retrieval.min_score, profile.retrieval
        read = None
        if reads and needs_reading(evidence[at], coverages[at], similarities[at], unknown, rules):
            # what the server reads: the meaning's choice, as above, unless the profile goes by words only
            served = evidence[at] if rules.min_similarity <= 1 else gather(
                query, [query, item["question"]], [p for p in passages if p.score >= at], rules.evidence_tokens,
                count_tokens, min_coverage=rules.min_coverage)[0]
            read = reads(turns, served)
        read_again, admitted_again = None, False
        if (dense and rules.dense_k and rules.mode == "hybrid" and not unknown
                and not said(coverages[at], similarities[at], rules.min_coverage, rules.min_similarity)):
            have = {_identity(p) for p in passages}
            extras = [as_passage(p) for p in dense(item, rules.dense_k)]
            if rules.follow_ups_keep_subject:
                extras = on_subject(extras, turns, headings)
            extras = [p for p in extras if p.score >= at and _identity(p) not in have]
            again, covered, similarity = gather(
                query, [query, item["question"]], extras, rules.evidence_tokens, count_tokens,
                min_coverage=rules.min_coverage, min_similarity=rules.min_similarity,
                meaning=scorer and (lambda: scorer))
            admitted_again = said(covered, similarity, rules.min_coverage, rules.min_similarity)
            if not admitted_again and reads and needs_reading(again, covered, similarity, unknown, rules):
                read_again = max(reads(turns, [e]) for e in again)
        out.append(Signals(item["id"], bool(item.get("unanswerable")),
                           max((p.score for p in passages), default=0.0),
                           coverages[profile.retrieval.min_score], coverages, similarities=similarities,
                           unknown_names=unknown, read=read, read_again=read_again,
                           admitted_again=admitted_again))
    return out


def _identity(passage) -> str:
    return getattr(passage, "chunk_id", None) or passage.text


def refuses(s: Signals, min_score: float, min_coverage: float, min_similarity: float = WORDS_ONLY) -> bool:
    answered = said(s.coverages[min_score], s.similarities.get(min_score), min_coverage, min_similarity)
    return s.top_score < min_score or not answered or bool(s.unknown_names)


def rates(signals: list[Signals], min_score: float, min_coverage: float,
          min_similarity: float = WORDS_ONLY) -> tuple[float | None, float | None]:
    """(refusal rate on unanswerable, false refusal rate on answerable)."""
    return _rates(signals, lambda s: refuses(s, min_score, min_coverage, min_similarity))


def _rates(signals: list[Signals], refused: Callable[[Signals], bool]) -> tuple[float | None, float | None]:
    bad = [refused(s) for s in signals if s.unanswerable]
    good = [refused(s) for s in signals if not s.unanswerable]
    return (sum(bad) / len(bad) if bad else None, sum(good) / len(good) if good else None)


def reader_rates(signals: list[Signals], rules, reader_threshold: float) -> tuple[float | None, float | None]:
    """``rates`` at the profile's thresholds (``rules``: its ``retrieval``), a question the reader
    read let in at ``reader_threshold`` or above (it was read because the others refused it)."""
    def refused(s: Signals) -> bool:
        if s.admitted_again:
            return False
        if s.best_read() is not None:
            return s.best_read() < reader_threshold
        return refuses(s, rules.min_score, rules.min_coverage, rules.min_similarity)
    return _rates(signals, refused)


def reader_tradeoff(signals: list[Signals], rules) -> list[dict]:
    """The reader's curve: refusal and false refusal for each ``reader_threshold``, the others the profile's."""
    return [dict(zip(("reader_threshold", "refusal", "false_refusal"), (t, *reader_rates(signals, rules, t))))
            for t in READER_GRID]


def tradeoff(signals: list[Signals], min_score: float, min_similarity: float = WORDS_ONLY) -> list[dict]:
    """The curve at one ``min_score`` and ``min_similarity``: refusal and false refusal for each ``min_coverage``."""
    rows = []
    for c in COVERAGE_GRID:
        refusal, false_refusal = rates(signals, min_score, c, min_similarity)
        rows.append({"min_score": min_score, "min_coverage": c, "min_similarity": min_similarity,
                     "refusal": refusal, "false_refusal": false_refusal})
    return rows


def choose(signals: list[Signals], max_false_refusal: float = MAX_FALSE_REFUSAL) -> dict:
    """The thresholds refusing the most unanswerable questions while refusing at most
    ``max_false_refusal`` of the answerable ones (ties: the fewest false refusals, the
    lowest ``min_score``, the highest ``min_similarity``, then the middle of the
    ``min_coverage`` plateau). Refusing before generation is the first line only: the
    verifier refuses more after it, so false refusals are the budget to keep."""
    grid = [row for s in SCORE_GRID for m in SIMILARITY_GRID for row in tradeoff(signals, s, m)]
    return _best(grid, (("min_score", min), ("min_similarity", max)), max_false_refusal)


def choose_reader(signals: list[Signals], rules) -> dict:
    """The ``reader_threshold`` refusing the most unanswerable questions, then the fewest answerable
    ones, then the middle of the plateau. No false refusal budget, unlike ``choose``: the reader is the
    last gate before an answer, and the same threshold lets a quote answer (``tenor.verify``)."""
    return _best(reader_tradeoff(signals, rules), (), max_false_refusal=1.0)


def _best(grid: list[dict], ties: Sequence[tuple[str, Callable]], max_false_refusal: float) -> dict:
    allowed = [r for r in grid if (r["false_refusal"] or 0) <= max_false_refusal] or grid
    best = max((r["refusal"] or 0) for r in allowed)
    plateau = [r for r in allowed if (r["refusal"] or 0) == best]
    for key, pick in (("false_refusal", min), *ties):
        chosen = pick(r[key] or 0 for r in plateau)
        plateau = [r for r in plateau if (r[key] or 0) == chosen]
    return plateau[len(plateau) // 2]


def abstention_report(signals: list[Signals], profile) -> dict:
    """The curve at the profile's ``min_score`` and ``min_similarity``, and the profile's own point,
    for the eval report."""
    r = profile.retrieval
    refusal, false_refusal = rates(signals, r.min_score, r.min_coverage, r.min_similarity)
    return {"curve": tradeoff(signals, r.min_score, r.min_similarity),
            "current": {"min_score": r.min_score, "min_coverage": r.min_coverage, "min_similarity": r.min_similarity,
                        "refusal": refusal, "false_refusal": false_refusal}}


def local_signals(settings, profile, items: list[dict]) -> list[Signals]:
    """``measure`` on this machine's index, as the server computes the signals: evidence counted
    with the profile's base model's tokenizer (the estimate selects other sentences), meaning with
    the collection's embedder, and the profile's reader, if any."""
    from evaluation.runner import conversation
    from ingest.embedder import closeness
    from ingest.index import open_index
    from tenor.reader import for_profile
    from tenor.tokens import profile_meter

    index = open_index(settings, profile.collection)
    reader = for_profile(settings, profile)
    def search(item: dict, k: int, mode: str = profile.retrieval.mode) -> list:  # the server's query
        return index.search(served_query(conversation(item), profile.voice.phrases(), index.unmentioned), k=k,
                            mode=mode)
    return measure(items, search, profile,
                   count_tokens=profile_meter(settings, profile).count,
                   unmentioned=index.unmentioned, headings=index.headings(),
                   closeness_to=lambda queries: closeness(index.embedder, queries),
                   reads=reader and reader.reads,  # the second chance counts in the reader's trade-off only
                   dense=reader and (lambda item, k: search(item, k, "dense")))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def main(argv: list[str] | None = None) -> int:
    from evaluation.runner import load_question_set
    from tenor import console

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="?", type=Path,
                        default=Path(__file__).resolve().parents[1] / "examples/larkfield/eval/questions.jsonl")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)

    settings = console.settings()
    profile = settings.profile(args.profile)
    items = load_question_set(args.questions)
    r = profile.retrieval
    signals = local_signals(settings, profile, items)
    tune, held_out = signals[0::2], signals[1::2]
    print(f"{len(items)} questions ({sum(s.unanswerable for s in signals)} unanswerable) from {args.questions}; "
          f"profile {profile.name}: min_score {r.min_score}, min_coverage {r.min_coverage}, "
          f"min_similarity {r.min_similarity}")
    named = [s for s in signals if s.unknown_names]
    print(f"names no document mentions: {sum(s.unanswerable for s in named)} unanswerable and "
          f"{sum(not s.unanswerable for s in named)} answerable questions refused by them "
          f"({', '.join(f'{s.id}: {s.unknown_names}' for s in named) or 'none'})")
    short = [s for s in signals if s.coverages[r.min_score] < r.min_coverage and s.top_score >= r.min_score]
    for kind, unanswerable in (("unanswerable", True), ("answerable", False)):
        close = sorted((s.similarities.get(r.min_score, 0.0), s.id) for s in short if s.unanswerable == unanswerable)
        print(f"{kind} questions short on words ({len(close)}): closest sentence "
              + (", ".join(f"{sim:.2f} ({qid})" for sim, qid in reversed(close)) or "-")
              + f"; {sum(sim >= r.min_similarity for sim, _ in close)} at min_similarity or above")
    print("\nTrade-off on the tuning half (even lines), at the profile's min_score and min_similarity, "
          "the reader left out:")
    print(f"{'min_coverage':>12} {'refused (unanswerable)':>24} {'false refusals':>15}")
    for row in tradeoff(tune, r.min_score, r.min_similarity):
        print(f"{row['min_coverage']:>12.2f} {_pct(row['refusal']):>24} {_pct(row['false_refusal']):>15}")
    best = choose(tune)
    held = rates(held_out, best["min_score"], best["min_coverage"], best["min_similarity"])
    now = rates(held_out, r.min_score, r.min_coverage, r.min_similarity)
    print(f"\nchosen on the tuning half: min_score {best['min_score']}, min_coverage {best['min_coverage']}, "
          f"min_similarity {best['min_similarity']} "
          f"(refused {_pct(best['refusal'])}, false refusals {_pct(best['false_refusal'])})")
    print(f"held-out half (odd lines): refused {_pct(held[0])}, false refusals {_pct(held[1])}; "
          f"with the profile's thresholds: refused {_pct(now[0])}, false refusals {_pct(now[1])}")
    if r.reader:
        _report_reader(signals, tune, held_out, r)
    return 0


def _report_reader(signals: list[Signals], tune: list[Signals], held_out: list[Signals], r) -> None:
    """The reader's probabilities and its threshold's trade-off (``r``: the profile's ``retrieval``)."""
    print()
    for kind, unanswerable in (("unanswerable", True), ("answerable", False)):
        read = sorted((s.best_read(), s.id, s.read_again is not None and s.read_again > (s.read or 0.0))
                      for s in signals if s.best_read() is not None and s.unanswerable == unanswerable)
        let_in = [s.id for s in signals if s.admitted_again and s.unanswerable == unanswerable]
        print(f"the reader on the {kind} questions short on words and meaning ({len(read)}; *: on the second "
              "chance's dense passages): "
              + (", ".join(f"{p:.3f}{'*' if again else ''} ({qid})" for p, qid, again in reversed(read)) or "-")
              + f"; {sum(p >= r.reader_threshold for p, _, _ in read)} at reader_threshold ({r.reader_threshold}) "
              f"or above; let in by the dense passages' words or meaning: {', '.join(let_in) or 'none'}")
    print("\nThe reader's trade-off on the tuning half (even lines), at the profile's other thresholds:")
    print(f"{'reader_threshold':>16} {'refused (unanswerable)':>24} {'false refusals':>15}")
    for row in reader_tradeoff(tune, r):
        print(f"{row['reader_threshold']:>16.2f} {_pct(row['refusal']):>24} {_pct(row['false_refusal']):>15}")
    now = reader_rates(held_out, r, r.reader_threshold)
    profiles = f"with the profile's {r.reader_threshold}: refused {_pct(now[0])}, false refusals {_pct(now[1])}"
    read = sum(s.best_read() is not None for s in tune if s.unanswerable)
    if read < FEW_UNANSWERABLE:
        print(f"only {read} unanswerable question(s) of the tuning half reached the reader, too few to choose a "
              f"reader_threshold: add unanswerable questions worded the way your customers ask. Held-out half "
              f"(odd lines), {profiles}")
        return
    best = choose_reader(tune, r)
    held = reader_rates(held_out, r, best["reader_threshold"])
    print(f"chosen on the tuning half: reader_threshold {best['reader_threshold']} (refused "
          f"{_pct(best['refusal'])}, false refusals {_pct(best['false_refusal'])}); held-out half (odd lines): "
          f"refused {_pct(held[0])}, false refusals {_pct(held[1])}; {profiles}")


if __name__ == "__main__":
    raise SystemExit(main())
