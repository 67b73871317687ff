"""How one answer is scored. Pure Python: no server, no model.

- correctness: every regex in ``patterns`` matches (case-insensitive); an
  item without patterns is scored by token-F1 against ``expected``;
- citations: the documents an answer cites are those of the citations whose
  ``[n]`` marker appears in its text; a citation is correct when the
  question's source document is among them;
- refusal: the answer says the documents do not cover the question (the
  profile's no-answer text, or a sentence to that effect);
- voice: the profile's voice rules (`tenor.answers`);
- unsupported figures: the numbers, prices, dates, e-mails and phone numbers
  of an answer that no passage it cites (by ``[n]`` marker) contains
  (`tenor.verify`'s check, applied to what shipped);
- loops: a 4-word sequence repeated 3 or more times ("Ride on! Ride on! Ride on!";
  `tenor.answers.has_loop`, which the strict policy also refuses to ship).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

from tenor.answers import CITATION_MARKER, answer_words, says_not_covered
from tenor.verify import checkable, facts, passage_facts, strip_markers, vouched


def patterns_match(answer: str, patterns: Sequence[str]) -> bool:
    return all(re.search(p, answer, re.IGNORECASE) for p in patterns)


def token_f1(answer: str, expected: str) -> float:
    """SQuAD-style token overlap F1 (lower-cased; punctuation, articles and [n] markers dropped)."""
    got, want = answer_words(answer), answer_words(expected)
    common = sum((Counter(got) & Counter(want)).values())
    if not got or not want or not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def correctness(item: dict, answer: str) -> float:
    if item.get("patterns"):
        return 1.0 if patterns_match(answer, item["patterns"]) else 0.0
    return token_f1(answer, item.get("expected", ""))


def cited_documents(answer: str, citations: Sequence[dict]) -> list[str]:
    """Document ids of the citations the answer's ``[n]`` markers point at, in order."""
    by_index = {c.get("index"): c.get("document_id") for c in citations}
    cited = [by_index.get(int(n)) for n in CITATION_MARKER.findall(answer)]
    return list(dict.fromkeys(d for d in cited if d))


def unsupported_figures(answer: str, citations: Sequence[dict]) -> list[str]:
    """The answer's figures that none of the passages its markers point at contains, their
    headings included (a quote names its topic: "OPTION 1: GOODS COVER: you pay the first £100")."""
    by_index = {c.get("index"): checkable(c) for c in citations}
    cited = {int(n) for n in CITATION_MARKER.findall(answer)}
    figures: set[str] = set()
    for n in cited:
        figures |= passage_facts(by_index.get(n, ""))
    return [f for f in facts(strip_markers(answer)) if not vouched(f, figures)]


def is_refusal(answer: str, no_answer: str = "") -> bool:
    return says_not_covered(answer, no_answer)


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


def mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None
