"""Evidence: the sentences and table rows of the retrieved passages that bear on a question.

A retrieved passage is ~200 tokens of a document; the fact a customer asks
about is usually one sentence or one table row of it. ``select_evidence``
keeps only the units (sentences, bullet items, table rows) that share key
terms with the question, best first, within a token budget, and returns them
grouped by passage in rank order, so the prompt stays short (the CPU's
prefill is the bottleneck) and each unit keeps its passage's number.

The server's prompt (``assistant.grounding``) and grounded fine-tuning
(``finetune.grounded``) both call it: one prompt contract. The answer checks
(``tenor.verify``) use the same term rules. Pure Python: no torch, no HTTP.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import snowballstemmer

from tenor.prompt import QUERY_TURNS, approx_tokens, retrieval_query, user_turns

# Function words, and the scaffolding of a customer's question ("how long",
# "can I", "tell me about"): they say nothing about which sentence answers it.
STOPWORDS = frozenset("""
a about above after again all also am an and any anything are as at be been before being below between both
but by can could did do does doing done down during each either else etc ever every few for from further get
gets got had has have having he her here hers him his how i if in into is it its itself just know let like
many may me might more most much must my no nor not now of off on once only or other our ours out over own
per please same shall she should so some something such tell than that the their them then there these they
this those through to too under until up upon us very was we were what when where whether which while who
whom why will with would yes yet you your yours hi hello hey thanks thank okay ok want need
everything explain describe detail details info information wondering
don doesn didn isn aren wasn weren won can't won't cannot couldn wouldn shouldn haven hasn anymore
""".split())

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w$])\+?\(?\d[\d ().-]{5,}\d(?![\w])")
# Shapes PHONE matches that are no phone number: "2024-01-15", "12.05.2024", "9.00-17.00", "1.5 - 2.5".
_NOT_A_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{2,4}|\d+[.:]\d+\s*-\s*\d+[.:]\d+")
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_CONTRACTION = re.compile(r"['’](s|m|re|ve|ll|d|t)$|n['’]t$")
# A size by its figures whatever its units and spacing: "10ft x 10ft", "10 x 10", "10' by 10'" all "10x10",
# as a customer writes it. "by" only with a unit ("increase 2 by 3" is no size); not a time ("10 by 10:30").
_SIZE_UNIT = r"(\s*(?:ft|feet|foot|m|cm|mm|in|inch(?:es)?)\.?|\s*['’\"])?"
_SIZE_BY = r"\s*(x|×|\bby\b)\s*"
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)" + _SIZE_UNIT + _SIZE_BY + r"(\d+(?:\.\d+)?)" + _SIZE_UNIT
                   + r"(?:" + _SIZE_BY + r"(\d+(?:\.\d+)?)" + _SIZE_UNIT + r")?(?!\w|[.:]\d)")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")  # "| a | b |", as every loader writes a table row
_TABLE_RULE = re.compile(r"^\s*\|?[\s:|-]+\|[\s:|-]*$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")
FAQ_QUESTION = re.compile(r"^Q:\s")  # an FAQ's "Q: Can I spread the cost?" ...
_FAQ_ANSWER = re.compile(r"^A:\s")  # ... and its "A: Yes, in two ways:"
_EMPHASIS = re.compile(r"\*\*|__|`")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9$£€])")
ASKING_TERMS = 3  # an asking sentence naming fewer ("go", "back") is covered by chance
# "it", "she", "there" as a place ("a ferry there"), not "is there a limit?" or "there's a fee"
_POINTS_TO_SCENE = re.compile(r"\b(?:it|its|they|them|their|he|his|she|him|her)\b"
                              r"|(?<!\bis\s)(?<!\bare\s)(?<!\bwas\s)(?<!\bwere\s)(?<!\bbe\s)\bthere\b"
                              r"(?!['\u2019]s|\s+(?:is|are|was|were|be|will|would|may|might)\b)", re.IGNORECASE)
_QUESTION_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+")  # a customer's sentences, whatever case they start in
_ABBREVIATION = re.compile(r"(?:^|\s)(?:st|mt|dr|mr|mrs|ms|no|vs|approx|etc|e\.g|i\.e|[a-z](?:\.[a-z])*)\.$",
                           re.IGNORECASE)


# Meaning, for units scored with an embedder (``score_units``): a unit counts from the
# cosine similarity a passage needs to be kept at all (``retrieval.min_score``'s default),
# and a unit that means just what the question asks counts as one more of its rarest key
# terms at most. Set from first principles and checked on the sample, not on Brightwell.
MEANING_FLOOR = 0.3
MEANING_WEIGHT = 2.0
WORDS_ONLY = 2.0  # a min_similarity no cosine reaches: meaning never lets a question in
Closeness = Callable[[list[str]], Sequence[float]]

_STEMMERS = threading.local()  # a Snowball stemmer keeps state while it works: one per thread


@lru_cache(maxsize=1 << 16)
def _snowball(word: str) -> str:
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


# Words a customer asks with and documents answer with (a question says "cost",
# a price list says "price"): folded to one term. Plain English, no company's terms.
SAME_AS = {_snowball(word): _snowball(same) for word, same in {
    "cost": "price", "fee": "price", "heavy": "weight", "weigh": "weight", "far": "range",
    "distance": "range"}.items()}


# A noun in -very made from a verb, as the verb: Snowball stems "delivered" "deliv" and "deliveries"
# "deliveri", so "we get stock delivered" missed "Deliveries are accepted..."; "recovery",
# "discovery" likewise. Not other nouns in -ery ("stationery" is no "station"), nor "every".
_VERB_NOUN = re.compile(r"^([a-z]{2,}v)er(?:y|ies)$")


def stem(word: str) -> str:
    """English Snowball stemming ("charging", "charge" -> "charg"; "batteries" ->
    "batteri"; "deliveries", "delivered" -> "deliv"), then the question/document synonyms above."""
    noun = _VERB_NOUN.match(word)
    word = _snowball(f"{noun[1]}er" if noun else word)
    return SAME_AS.get(word, word)


_STOP_STEMS = frozenset(stem(w) for w in STOPWORDS)


def terms(text: str) -> list[str]:
    """Content terms of a text: lower-cased, stemmed, function words dropped (in any
    form: "detailed" as "detail")."""
    text = text.lower()
    stems = (stem(_CONTRACTION.sub("", w)) for w in _WORD.findall(text) if w not in STOPWORDS)
    found = [s for s in stems if s not in _STOP_STEMS]  # a stopword's stem is one of them
    for size in map(_size, _SIZE.finditer(text)):
        if size and size not in found:
            found.append(size)
    return found


def _size(match: re.Match) -> str | None:
    """"10x10" of a size ``_SIZE`` matched; None for figures joined by "by" with no unit."""
    figures, units, joins = match.groups()[0::3], match.groups()[1::3], match.groups()[2::3]
    if "by" in filter(None, joins) and not any(units):
        return None
    return "x".join(filter(None, figures))


_CAPITALIZED = re.compile(r"\b[A-Z][\w-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*)[\"'(“‘]*([A-Z][\w-]*)")


# Capitalized without naming what the question is about: days and months (opening hours,
# delivery dates: the documents' "Mon-Sat" covers "Sunday"), and whoever a greeting addresses.
_NOT_TOPICS = frozenset("i monday tuesday wednesday thursday friday saturday sunday january february march "
                        "april may june july august september october november december".split())
_GREETED = re.compile(r"\b(?:hi|hello|hey|dear|thanks|thank you)[\s,]+([A-Z][\w-]*)", re.IGNORECASE)


def names(question: str) -> list[str]:
    """The words a question capitalizes mid-sentence: the products, places and brands it
    is about ("Europe" in "Are you opening a store in Europe?"). A sentence's first word,
    "I", days and months, and a greeted name are capitalized anyway, so they are not names."""
    skip = {m.start(1) for m in _SENTENCE_START.finditer(question)}
    skip |= {m.start(1) for m in _GREETED.finditer(question)}
    return [m.group() for m in _CAPITALIZED.finditer(question)
            if m.start() not in skip and m.group().lower() not in _NOT_TOPICS]


@dataclass
class Unit:
    """One sentence, bullet item or table row of a passage."""

    text: str
    order: int  # position in the passage
    header: str | None = None  # a table row's header row
    heading: str = ""  # the heading above it inside the passage, if any
    paragraph: int = -1  # the paragraph a sentence belongs to (-1: a table row)
    closeness: float = 0.0  # cosine similarity to the question, when scored with an embedder

    @property
    def is_row(self) -> bool:
        return self.header is not None

    @property
    def cells(self) -> list[str]:
        """A table row's cells ([] for a sentence); the first names what the row is about ("Hot Desk" in
        "| Hot Desk | £189 |")."""
        return _cells(self.text) if self.is_row else []

    def plain(self) -> str:
        """Readable on its own: a table row as "Column: value; ..." pairs, no markdown."""
        if not self.is_row:
            return _EMPHASIS.sub("", _BULLET.sub("", self.text)).strip()
        names, values = _cells(self.header), self.cells
        if len(names) != len(values):
            return "; ".join(values)
        return "; ".join(f"{n}: {v}" for n, v in zip(names, values) if v)


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def split_units(text: str) -> list[Unit]:
    """A passage's sentences, bullet items and table rows, in order.

    Hard-wrapped lines are joined back into paragraphs; a bullet starts a new
    one; a table's first row is its header (kept with each row, not a unit);
    a markdown heading is kept as the context of the units below it; an FAQ's
    question (one sentence) and its answer's first sentence, in one paragraph, are
    one unit ("Q: Can I spread the cost? A: Yes, in two ways:"): "pay it off bit by
    bit" is matched and read against the question the answer was written for."""
    units: list[Unit] = []
    paragraph: list[str] = []
    paragraphs = 0
    header: str | None = None
    heading = ""

    def flush():
        nonlocal paragraphs
        if paragraph:
            text = " ".join(paragraph)
            marker = _BULLET.match(text)  # "1. Charge it." is one sentence, not "1." and "Charge it."
            cut = marker.end() if marker else 0
            sentences = _SENTENCE_BREAK.split(text[cut:])
            sentences[0] = text[:cut] + sentences[0]
            for sentence in _faq_pairs([s.strip() for s in sentences if s.strip()]):
                units.append(Unit(sentence, len(units), heading=heading, paragraph=paragraphs))
            paragraph.clear()
            paragraphs += 1

    for line in text.splitlines():
        if TABLE_ROW.match(line):
            flush()
            if _TABLE_RULE.match(line):
                continue
            if header is None:
                header = line.strip()
            else:
                units.append(Unit(line.strip(), len(units), header=header, heading=heading))
            continue
        header = None
        if not line.strip():
            flush()
            continue
        if _HEADING.match(line):  # context for the units below it, not evidence itself
            flush()
            heading = _HEADING.match(line).group(1).strip()
            continue
        if _BULLET.match(line):
            flush()
        paragraph.append(line.strip())
    flush()
    return units


def _faq_pairs(sentences: list[str]) -> list[str]:
    """``sentences`` with each FAQ question joined to the answer sentence after it."""
    out: list[str] = []
    for sentence in sentences:
        if out and FAQ_QUESTION.match(out[-1]) and out[-1].endswith("?") and _FAQ_ANSWER.match(sentence):
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out.append(sentence)
    return out


def following(unit: Unit, units: Sequence[Unit]) -> Unit | None:
    """The sentence right after ``unit`` in its paragraph (``units``: its passage's
    ``split_units``), if any; a table row has none. A unit ending in a colon
    introduces what comes next ("If you will not ride for two weeks:" and the
    list's first step), in its paragraph or the next."""
    if unit.is_row or unit.order + 1 >= len(units):
        return None
    after = units[unit.order + 1]
    if unit.text.rstrip().endswith(":"):  # ... under the same heading, in the next paragraph at the latest
        near = after.is_row or after.paragraph in (unit.paragraph, unit.paragraph + 1)
        return after if near and after.heading == unit.heading else None
    return after if after.paragraph == unit.paragraph and not after.is_row else None


def item_before(unit: Unit, units: Sequence[Unit]) -> list[Unit]:
    """The sentences of the list item ``unit`` is in that come before it (``units``: its passage's
    ``split_units``), in order; [] if it is in no list item or opens one."""
    if unit.is_row:
        return []
    before = [u for u in units[:unit.order] if u.paragraph == unit.paragraph]
    return before if before and _BULLET.match(before[0].text) else []


def list_of(unit: Unit, units: Sequence[Unit]) -> list[Unit]:
    """The items of the bulleted or numbered list ``unit`` is in (``units``: its passage's
    ``split_units``), each with the sentences of its paragraph, in order; [] if none."""
    def starts_item(paragraph: int) -> bool:
        first = next((u for u in units if u.paragraph == paragraph), None)
        return first is not None and bool(_BULLET.match(first.text)) and first.heading == unit.heading
    if unit.is_row or not starts_item(unit.paragraph):
        return []
    first = last = unit.paragraph
    while first > 0 and starts_item(first - 1):
        first -= 1
    while starts_item(last + 1):
        last += 1
    return [u for u in units if first <= u.paragraph <= last]


def table_of(unit: Unit, units: Sequence[Unit]) -> list[Unit]:
    """The rows of the table ``unit`` is a row of (``units``: its passage's ``split_units``), in order; [] if none."""
    if not unit.is_row:
        return []
    first = last = unit.order

    def same(other: Unit) -> bool:  # a next table under another heading may have the same columns
        return other.header == unit.header and other.heading == unit.heading
    while first > 0 and same(units[first - 1]):
        first -= 1
    while last + 1 < len(units) and same(units[last + 1]):
        last += 1
    return list(units[first:last + 1])


def table_plain(rows: Sequence[Unit]) -> str:
    """Table rows in one line, the header once: "Plan | Price: The Duo | $5.99 / The Family | $4.99"
    (each row as ``Unit.plain`` would repeat the column names, row after row)."""
    return f"{' | '.join(_cells(rows[0].header))}: " + " / ".join(" | ".join(_cells(r.text)) for r in rows)


@dataclass
class EvidencePassage:
    """A retrieved passage cut down to its selected units; anything else
    (``document_id``, ``section``, ``page``, ``score``, ``chunk_id``...) is the passage's."""

    passage: object
    units: list[Unit] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # each unit's relevance to the question
    whole: bool = False  # the prompt carries the passage's own text (no selection)

    def __getattr__(self, name):
        if name == "passage":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.passage, name)

    @property
    def text(self) -> str:
        if self.whole:
            return self.passage.text
        lines, header, heading = [], None, getattr(self.passage, "section", None) or ""
        for unit in self.units:
            if unit.heading and unit.heading != heading:
                lines.append(f"{unit.heading}:")
                header = None
            heading = unit.heading or heading
            if unit.is_row and unit.header != header:
                lines.append(unit.header)
            header = unit.header
            lines.append(unit.text)
        return "\n".join(lines)

    @property
    def full_text(self) -> str:
        return self.passage.text


def _heading_terms(passage) -> set[str]:
    return set(terms(" ".join(str(getattr(passage, a, None) or "") for a in ("section", "document_id"))))


def score_units(query: str, passages: Sequence,
                closeness: Closeness | None = None) -> list[list[tuple[Unit, float]]]:
    """Every unit of every passage with its relevance to ``query``: each question
    term it contains counts 1, plus up to 1 more the rarer the term is among
    these passages' units (so matching more terms comes first). A term of
    the context (the passage's heading or document name, the heading above the
    unit, a table row's header) counts a third, in the unit or not: under
    "Cargo K1", "Price: $3,899" answers "what does the Cargo K1 cost?" better
    than a sentence that repeats "Cargo K1".

    With ``closeness`` (each unit text's cosine similarity to the question: the
    embedder's, ``ingest.embedder.closeness``), meaning counts too, up to
    ``MEANING_WEIGHT`` for a unit that says what the question asks in other words
    ("how many kilos can it haul?" of "it carries up to 180 kg"); below ``MEANING_FLOOR``, nothing."""
    query_terms = question_terms(query)
    split = [split_units(p.text) for p in passages]
    if closeness is not None:
        flat = [u for units in split for u in units]
        for unit, close in zip(flat, closeness([u.plain() for u in flat])):
            unit.closeness = close
    unit_terms = [[_stated(u.text) for u in units] for units in split]
    count = sum(len(u) for u in split) or 1
    df: dict[str, int] = {}
    for per_passage in unit_terms:
        for found in per_passage:
            for t in found & query_terms:
                df[t] = df.get(t, 0) + 1
    idf = {t: math.log(1 + count / (1 + df.get(t, 0))) for t in query_terms}
    rarest = max(idf.values(), default=1.0) or 1.0
    weight = {t: 1 + idf[t] / rarest for t in query_terms}  # 1..2: matching more terms comes first
    scored = []
    for passage, units, per_passage in zip(passages, split, unit_terms):
        heading = _heading_terms(passage) & query_terms
        scored.append([])
        for unit, found in zip(units, per_passage):
            context = (heading | set(terms(f"{unit.heading} {unit.header or ''}"))) & query_terms
            scored[-1].append((unit, sum(weight[t] for t in found & query_terms - context)
                               + sum(weight[t] for t in context) / 3 + meaning_score(unit.closeness)))
    return scored


def meaning_score(close: float) -> float:
    return MEANING_WEIGHT * max(0.0, close - MEANING_FLOOR) / (1 - MEANING_FLOOR)


def select_evidence(query: str, passages: Sequence, budget_tokens: int,
                    count_tokens: Callable[[str], int] = approx_tokens,
                    closeness: Closeness | None = None) -> list[EvidencePassage]:
    """The units bearing on ``query`` within ``budget_tokens``, grouped by passage in rank order.
    A budget of 0 selects nothing: every passage whole, its units scored.

    Units are taken best first (ties: the better-ranked passage, then earlier
    in it); a unit that shares no term with the question (and, with ``closeness``,
    is no closer in meaning than ``MEANING_FLOOR``) is never taken. When none
    scores, the first passage's opening units fill the budget, so the model
    always sees something to judge (and the abstention signals see no match)."""
    scored = score_units(query, passages, closeness)
    if not budget_tokens:
        return [EvidencePassage(p, [u for u, _ in units], [s for _, s in units], whole=True)
                for p, units in zip(passages, scored)]
    ranked = sorted(
        ((score, -p, -u.order, p, u) for p, units in enumerate(scored) for u, score in units if score > 0),
        reverse=True,
    )
    if not ranked and scored:
        ranked = [(0.0, 0, -u.order, 0, u) for u, _ in scored[0]]
        ranked.sort(key=lambda r: -r[2])
    chosen: dict[int, list[tuple[Unit, float]]] = {}
    used = 0
    headers: set[str] = set()
    for score, _, _, p, unit in ranked:
        cost = count_tokens(unit.text) + 1
        if unit.is_row and unit.header not in headers:
            cost += count_tokens(unit.header)
        if used + cost > budget_tokens and used:
            continue
        chosen.setdefault(p, []).append((unit, score))
        used += cost
        if unit.is_row:
            headers.add(unit.header)
    out = []
    for p in sorted(chosen):
        picked = sorted(chosen[p], key=lambda pair: pair[0].order)
        out.append(EvidencePassage(passages[p], [u for u, _ in picked], [s for _, s in picked]))
    return out


def coverage(evidence: Sequence, *questions: str) -> float:
    """How much of the question the evidence covers: the share of the question's key
    terms it contains (text and headings), each weighted by its rarity in the
    passages the evidence comes from, so "Larkfield" or "bike" (in every
    passage) count little and "stock" or "insurance" (in none) count most.
    With several phrasings (the last turn alone, and with the earlier ones: a
    follow-up names its topic only there), the best covered one counts."""
    if len(questions) != 1:
        return max((coverage(evidence, q) for q in questions), default=0.0)
    found: set[str] = set()
    for e in evidence:
        found |= _stated(e.text) | _heading_terms(e)
        found |= {t for unit in getattr(e, "units", ()) for t in terms(unit.heading)}
    return _weighted_share(found, evidence, questions[0])


def gather(query: str, questions: Sequence[str], passages: Sequence, budget_tokens: int,
           count_tokens: Callable[[str], int] = approx_tokens, *, min_coverage: float,
           min_similarity: float = WORDS_ONLY, meaning: Callable[[], Closeness] | None = None,
           ) -> tuple[list[EvidencePassage], float, float | None]:
    """The evidence for a question, and how much of it it says: (evidence, coverage, similarity).

    Words first: the units sharing the question's key terms, and the share of
    ``questions``' key terms they hold (``coverage``, always of these). When that is
    below ``min_coverage``, ``min_similarity`` is 1 or less and ``meaning`` is given
    (it embeds the question and returns its ``Closeness``), the units are chosen
    again with meaning counted, and ``similarity`` is the best chosen unit's (else
    None): "how many kilos can the Cargo K1 haul?" shares few words with "it carries
    up to 180 kg". Where the words match, they are the precise signal, and nothing
    is embedded."""
    evidence = select_evidence(query, passages, budget_tokens, count_tokens)
    covered = coverage(evidence, *questions)
    if covered >= min_coverage or min_similarity > 1 or meaning is None or not passages:
        return evidence, covered, None
    by_meaning = select_evidence(query, passages, budget_tokens, count_tokens, meaning())
    return by_meaning, covered, closest(by_meaning)


def said(covered: float, similarity: float | None, min_coverage: float, min_similarity: float) -> bool:
    """Whether the evidence says what the question asks: enough of its key terms, or one
    unit close enough in meaning."""
    return covered >= min_coverage or (similarity or 0.0) >= min_similarity


def closest(evidence: Sequence) -> float:
    """The evidence's best unit's cosine similarity to the question (0 unless scored with ``closeness``)."""
    return max((u.closeness for e in evidence for u in getattr(e, "units", ())), default=0.0)


# "How long/far/old...": the adjective asks for a figure, it names nothing the answer must contain.
_HOW_ADJECTIVE = re.compile(r"\bhow\s+(?:long|far|old|big|large|often|soon|fast|heavy|tall|wide|late|early)\b",
                            re.IGNORECASE)
# Nor does the verb of "how long does it take?" ("Service turnaround is usually 3 business days").
_HOW_LONG_TAKE = re.compile(r"(\bhow\s+long\b[^?.!,;]*?)\b(?:take|takes|taking|taken|took)\b", re.IGNORECASE)


def question_terms(question: str) -> set[str]:
    """The key terms of a question (of a retrieval query): "How long is the warranty?" -> {"warranty"},
    "How long does delivery take?" -> {"deliv"}."""
    return set(terms(_HOW_ADJECTIVE.sub(" how ", _HOW_LONG_TAKE.sub(r"\1", question))))


def asking(question: str) -> list[str]:
    """The sentences of ``question`` that ask (end in "?"), else all of them: customers set the
    scene first ("I've lost the key to my unit. What do you charge to cut the lock off?")."""
    sentences: list[str] = []
    for line in question.splitlines():
        joined = False  # "St. Ives", "e.g. invoices", "U.S. shipping" end no sentence
        for piece in filter(None, (p.strip() for p in _QUESTION_BREAK.split(line))):
            if joined:
                sentences[-1] = f"{sentences[-1]} {piece}"
            else:
                sentences.append(piece)
            joined = bool(_ABBREVIATION.search(piece))
    return [s for s in sentences if s.endswith("?")] or sentences


def phrasings(question: str) -> list[str]:
    """``question``, and its asking sentences alone when it sets a scene first and they stand
    alone: ``ASKING_TERMS`` key terms or more, and no pronoun pointing back into the scene; coverage
    counts the better covered. ("Walking on with two big suitcases. Will I be charged, and is there
    a maximum weight?": the luggage rules need not say "walking". Not "My cousin lives on an island
    you don't serve. Can I get a ferry there from Port Alder?", whose "there" carries what is asked,
    nor "How do I go about getting it back?", which names too little to be covered by itself.)"""
    asked = " ".join(asking(question))
    if asked == question.strip() or len(question_terms(asked)) < ASKING_TERMS or _POINTS_TO_SCENE.search(asked):
        return [question]
    return [question, asked]


def text_coverage(text: str, evidence: Sequence, question: str, cited: Sequence = ()) -> float:
    """How much of ``question`` a written ``text`` (an answer) covers, weighted as ``coverage``
    weighs it for ``evidence``: so an answer and the evidence it came from compare.
    As there, what its figures are counts (a phone number is a "phone number", an address
    with an @ an "email"), and so do the headings of the passages it
    ``cited`` (a sentence under "Load Limits" is about loads)."""
    found = _stated(text) | {t for e in cited for t in _heading_terms(e)}
    return _weighted_share(found, evidence, question)


# "What's your email?", "Can I phone you on a Sunday?", "What number can I ring to talk to a person?"; not
# "how do I update my email address?", "does it have a phone holder?", "what do you call your cheapest plan?"
_ABOUT_CONTACT = re.compile(
    r"\b(?:(?:tele)?phone|ring|call|e-?mail|contact|speak\s+(?:to|with)|talk\s+(?:to|with)|get\s+hold\s+of)\s+"
    r"(?:you|us|someone|somebody|anyone|a\s+(?:person|human)|the\s+team|support|customer\s+service)\b"
    r"|\byour\s+(?:(?:tele)?phone\s+|contact\s+|support\s+|help\s?line\s+)?(?:numbers?|lines?|e-?mail|details)\b"
    r"|\b(?:the|a)\s+(?:(?:tele)?phone|contact|support|help\s?line)\s+(?:numbers?|lines?)\b|\bhelp\s?line\b"
    r"|\bget\s+in\s+touch\b|\bby\s+(?:(?:tele)?phone|e-?mail)\b"
    r"|\b(?:numbers?|who)\s+(?:can|do|should|could)\s+(?:i|we)\s+(?:ring|call|phone)\b"
    r"|\bnumbers?\s+(?:i|we)\s+(?:can|could|should)\s+(?:ring|call|phone)\b", re.IGNORECASE)
CONTACT_WORDS = "contact us phone number email address"  # added to the query that looks for contact details


def about_contact(question: str) -> bool:
    """Whether a question is about reaching the company (by phone, e-mail...): its contact
    details bear on it ("the phone lines are open 8am to 6pm, Monday to Saturday" to "can I
    phone you on a Sunday?"), though a long contact section scores low against it."""
    return bool(_ABOUT_CONTACT.search(question))


def has_contact_details(text: str) -> bool:
    """A phone number or an e-mail address in ``text``."""
    return bool(phones(text) or EMAIL.search(text))


def phones(text: str) -> list[str]:
    """The phone numbers in a text: 7 digits or more with a separator or a leading +,
    not a date or a range of times or decimals."""
    return [m for m in PHONE.findall(text)
            if sum(c.isdigit() for c in m) >= 7 and re.search(r"[ ().-]|^\+", m)
            and not _NOT_A_PHONE.fullmatch(m.strip())]


def _stated(text: str) -> set[str]:
    """The terms a text states: its words, and what its figures are (a phone number is a
    "phone number" to "call", an address with an @ an "email")."""
    found = set(terms(text))
    if phones(text):
        found |= set(terms("phone telephone number call"))
    if EMAIL.search(text):
        found |= set(terms("email e-mail"))
    return found


def _weighted_share(found: set[str], evidence: Sequence, question: str) -> float:
    wanted = question_terms(question)
    if not wanted or not evidence:
        return 0.0
    units = [set(terms(u.text)) for e in evidence for u in split_units(getattr(e, "full_text", e.text))]
    weight = {t: math.log(1 + (len(units) + 1) / (1 + sum(t in u for u in units))) for t in wanted}
    return sum(weight[t] for t in wanted & found) / sum(weight.values())


_POINTS_BACK = re.compile(r"\b(?:it|its|they|them|their)\b", re.IGNORECASE)


def _shape(part: str) -> tuple[str, ...]:
    """"Fold F1" -> ("word", "code"): headings of one shape under one parent are
    alternatives of one kind (the models of a lineup), unlike "Warranty" or "Returns"."""
    return tuple("code" if any(c.isdigit() for c in word) else "word" for word in part.split())


@lru_cache(maxsize=8)
def _families(headings: frozenset[tuple[str, str]]) -> dict[tuple, list[tuple[tuple, frozenset[str]]]]:
    """(document id, parent heading) -> its children's (shape, terms)."""
    families: dict[tuple, list[tuple[tuple, frozenset[str]]]] = {}
    for document_id, section in headings:
        *parent, last = section.split(" > ")
        if parent:
            families.setdefault((document_id, tuple(parent)), []).append((_shape(last), frozenset(terms(last))))
    return families


# A follow-up that goes on from the answer before it: a sentence starting "And...", "So...", "What
# about...", or pointing back ("if we take it for the whole day?").
_FOLLOWS_ON = re.compile(r"(?:^|[.!?,;]\s*|\n)\W*(?:and|so|what\s+about|how\s+about)\b|" + _POINTS_BACK.pattern,
                         re.IGNORECASE)


def answered_subject(conversation: Sequence[dict], voice: Sequence[str],
                     unmentioned: Callable[[list[str]], list[str]] | None = None) -> str:
    """What a follow-up is about when only the answer before it named it: the names of the
    last assistant turn that the documents mention (``unmentioned``: those they do not), when
    the last user turn goes on from it ("And if we take it for the whole day?" after "The
    Chart Room is the one" -> "Chart Room") and no user turn of the query names anything.
    A word starting a sentence is no name ("Cargo K1 is the one" names "K1" alone), as for a question.
    The brand is no subject: the names in the voice's phrases (``voice``: greeting, sign-off,
    required; "Larkfield" in "Ride bright! -- The Larkfield crew") are left out, as are
    markdown's capitals ("**Price:**")."""
    turns = [m for m in conversation if m.get("role") in ("user", "assistant")]
    if len(turns) < 2 or turns[-1].get("role") != "user" or turns[-2].get("role") != "assistant":
        return ""
    phrases = [p for p in voice if p]
    brand = {w.lower() for p in phrases for w in names(p)}

    def named(text: str) -> list[str]:
        for phrase in phrases:
            text = text.replace(phrase, "\n")  # what follows it starts a sentence
        plain = "\n".join(u.plain() for u in split_units(text))
        return [w for w in dict.fromkeys(names(plain)) if w.lower() not in brand]
    users = user_turns(conversation)[-QUERY_TURNS:]
    if not _FOLLOWS_ON.search(users[-1]) or any(named(u) for u in users):
        return ""
    found = named(str(turns[-2].get("content", "")))
    missing = set(unmentioned(found)) if found and unmentioned else set()
    return " ".join(w for w in found if w not in missing)


def served_query(conversation: Sequence[dict], voice: Sequence[str],
                 unmentioned: Callable[[list[str]], list[str]] | None = None) -> str:
    """The query the server retrieves on: the user's last turns, with a follow-up's subject that
    only the answer before it named (``answered_subject``)."""
    return retrieval_query(conversation, subject=answered_subject(conversation, voice, unmentioned))


def on_subject(passages: Sequence, conversation: Sequence[dict],
               headings: frozenset[tuple[str, str]]) -> list:
    """``passages`` for the conversation's last turn, without those about a rival of its
    subject when it is a follow-up that names nothing and points back: "what's the
    weight limit for its rack?" after "Tell me about the Fold F1" is not answered
    from the Cargo K1's pages.

    The subject is what the user turn before it names. Its rivals are the headings
    beside a heading naming it, in the same document and of the same shape with a
    model code ("Lineup > Cargo K1" beside "Lineup > Fold F1"; never "Lineup >
    Warranty"). A passage is about a rival when its section names one and nothing in
    it names the subject. Nothing is dropped when a later turn (the assistant's
    included) names a rival: the conversation has moved on. ``headings``: the
    collection's (document id, section) pairs."""
    users = [i for i, m in enumerate(conversation) if m.get("role") == "user"]
    last = str(conversation[users[-1]].get("content", "")) if users else ""
    if len(users) < 2 or names(last) or not _POINTS_BACK.search(last):
        return list(passages)
    subject = set(terms(" ".join(names(str(conversation[users[-2]].get("content", ""))))))
    if not subject:
        return list(passages)
    rivals = []
    for family in _families(headings).values():
        shapes = {shape for shape, named in family if subject <= named and "code" in shape}
        rivals += [named for shape, named in family if shape in shapes and not subject <= named]
    since = set(terms(" ".join(str(m.get("content", "")) for m in conversation[users[-2] + 1:])))
    if not rivals or any(rival <= since for rival in rivals):
        return list(passages)

    def about_a_rival(passage) -> bool:
        section = set(terms(getattr(passage, "section", None) or ""))
        named = section | set(terms(getattr(passage, "full_text", None) or passage.text))
        return not subject <= named and any(rival <= section for rival in rivals)

    return [p for p in passages if not about_a_rival(p)]
