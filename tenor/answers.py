"""The answer checks serving, training and evaluation share: citation markers,
"the documents do not cover it", loops, and the brand-voice rules.

Pure Python (no torch), on the ground floor so every wing can import it.
Voice matching ignores case, runs of whitespace and typographic quotes, so
"Hey  Rider!" satisfies "Hey rider!" and "don’t" matches "don't"; dashes and
other punctuation must match as written.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip().casefold()


def _rule(rules: Any, name: str, default):
    if isinstance(rules, dict):
        return rules.get(name, default)
    return getattr(rules, name, default)


def voice_adherence(text: str, rules: Any) -> tuple[bool, list[str]]:
    """``(ok, reasons)`` for one answer against ``rules``.

    ``rules`` is a :class:`tenor.config.VoiceRules` or a dict with the same
    keys: ``required`` (phrases every answer contains), ``forbidden`` (phrases
    no answer contains) and ``max_words``. ``reasons`` lists every rule broken.
    """
    body = normalise(text)
    reasons: list[str] = []
    for phrase in _rule(rules, "required", []) or []:
        if normalise(phrase) not in body:
            reasons.append(f"missing required phrase {phrase!r}")
    for phrase in _rule(rules, "forbidden", []) or []:
        if normalise(phrase) in body:
            reasons.append(f"contains forbidden phrase {phrase!r}")
    max_words = _rule(rules, "max_words", None)
    if max_words is not None:
        words = len(text.split())
        if words > max_words:
            reasons.append(f"{words} words, over the limit of {max_words}")
    return (not reasons, reasons)


def adherence_rate(texts: list[str], rules: Any) -> float:
    """The share of ``texts`` that follow every rule (0.0 for no texts)."""
    if not texts:
        return 0.0
    return sum(voice_adherence(t, rules)[0] for t in texts) / len(texts)


# An inline citation: "[1]" .. "[99]" (a bracketed year such as "[2024]" is not one).
CITATION_MARKER = re.compile(r"\[(\d{1,2})\]")

_NOT_COVERED = re.compile(
    r"\b(documents?|docs|guides?|manuals?|pages?|information|sources?)\b[^.!?]{0,60}?"
    r"\b(don't|do not|doesn't|does not|didn't|did not|can't|cannot)\b[^.!?]{0,30}?"
    r"\b(cover|mention|say|include|contain|address|answer)",
    re.IGNORECASE,
)
# The passive form: "... is not provided in the given information".
_NOT_IN_SOURCES = re.compile(
    r"\bnot\s+(provided|mentioned|covered|included|given|listed|stated|found|available)\b[^.!?]{0,30}?"
    r"\b(in|by)\b[^.!?]{0,25}?\b(information|documents?|docs|passages?|context|sources?)\b",
    re.IGNORECASE,
)


def says_not_covered(answer: str, no_answer_text: str = "") -> bool:
    """Whether an answer already tells the customer the documents do not cover it."""
    if no_answer_text and no_answer_text.strip().lower() in answer.lower():
        return True
    return bool(_NOT_COVERED.search(answer) or _NOT_IN_SOURCES.search(answer))


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def answer_words(text: str) -> list[str]:
    """The words of an answer: lower-cased; punctuation, articles and ``[n]`` markers dropped."""
    text = CITATION_MARKER.sub(" ", text).lower().translate(str.maketrans("", "", string.punctuation))
    return _ARTICLES.sub(" ", text).split()


def has_loop(answer: str, size: int = 4, times: int = 3) -> bool:
    """Whether some ``size``-word sequence occurs ``times`` times or more ("Ride on! Ride on!
    Ride on!", or one list line written three times): greedy decoding stuck in a loop."""
    words = answer_words(answer)
    seen = Counter(tuple(words[i:i + size]) for i in range(len(words) - size + 1))
    return any(count >= times for count in seen.values())


def repeats_itself(answer: str) -> bool:
    """Whether an answer is stuck (what the strict policy will not ship): a sentence or line
    of 3 words or more written twice, any written three times, a run of 10 words written
    twice (a list line rewritten with one word changed), or a span of 2 to 8 words three
    times back to back ("Ride on! Ride on! Ride on!"). Unlike ``has_loop``, a list whose
    lines share a few words ("Monday 8 am to 6 pm, Tuesday 8 am to 6 pm, ...") is none."""
    lines = [tuple(answer_words(part)) for part in re.split(r"(?<=[.!?])\s+|\n+", answer)]
    counts = Counter(line for line in lines if line)
    if any(n >= 3 or (n >= 2 and len(line) >= 3) for line, n in counts.items()):
        return True
    words = answer_words(answer)
    if any(n >= 2 for n in Counter(tuple(words[i:i + 10]) for i in range(len(words) - 9)).values()):
        return True
    return any(words[i:i + p] == words[i + p:i + 2 * p] == words[i + 2 * p:i + 3 * p]
               for p in range(2, 9) for i in range(len(words) - 3 * p + 1))
