"""Answer checks: which passage supports each sentence, and what to ship.

``attribute`` splits an answer into sentences and matches each factual one to
the numbered passages that support it: lexical overlap of content terms, plus
embedding similarity when an ``embed`` function is given. A sentence is
supported only if every number, price, duration, date, time of day, e-mail address
and phone number in it appears in a passage it cites, and each number and time in a
sentence of that passage about the same thing (``bound``). The server then writes the
``[n]`` markers itself (the model's own are dropped), whatever the model wrote.

``apply_policy`` turns the result into the shipped text under a profile's
``answer_policy``: ``strict`` replaces an answer with an unsupported factual
sentence by a quoted, cited extract of the evidence (or the no-answer text),
``annotate`` marks the unsupported sentences, ``off`` ships it as written.

Pure Python (no torch, no HTTP): the server, fine-tuning and the eval use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from tenor.answers import CITATION_MARKER, repeats_itself
from tenor.evidence import (EMAIL, FAQ_QUESTION, MEANING_FLOOR, PHONE, WORDS_ONLY, Closeness, EvidencePassage, asking,
                            closest, coverage, following, item_before, list_of, names, phrasings, phones,
                            question_terms, said, split_units, table_of, table_plain, terms, text_coverage)
from tenor.prompt import approx_tokens

MARKER = re.compile(r"\s?" + CITATION_MARKER.pattern)  # with the space before it
_ADDRESS = re.compile(r"(?:[\w.+-]+@)?\b[a-z][\w-]*(?:\.[a-z][\w-]*)+", re.IGNORECASE)  # e-mail, web
UNSUPPORTED_MARK = "[unverified]"
CONTINUATION_TOKENS = 60  # an extract quotes the next sentence when it is a sentence, not a run-on block
LIST_TOKENS = 160  # ... and a whole list when two of its items are the best matches, if it is no longer
READ_CANDIDATES = 6  # the reader picks a quote among this many units (one read each)
NAME_MARGIN = 0.05  # a row of the quoted table is quoted instead when its name is this much closer in meaning
_FIGURE = r"\d[\d,]*(?:\.\d+)?"
_NUMBER = re.compile(r"(?<![\w.])" + _FIGURE)
_NUMBER_WORDS = {w: str(n) for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_NUMBER_WORDS.update({w: str(10 * n) for n, w in enumerate(
    "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"})
_WORDS = re.compile(r"[a-z]+")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)|\n")
_TRAILING = re.compile(r"[\s.!?:;,\"')\]]*$")
_UNIT_AFTER = re.compile(_NUMBER.pattern + r"%?[ -]?([A-Za-z]+)")  # "2 years", "2-year", "30 days": the figure's unit
_ANAPHOR = re.compile(r"^(?:it|its|they|their|this|these|that|those|he|she)\b", re.IGNORECASE)
# A clause that asks starts the sentence or follows a comma: "Does she pay less, and how much one way?"
_CLAUSE_START = r"(?:^|[,;]\s*)\W*(?:and\s+|so\s+|but\s+|or\s+)?"
_ASKS_AMOUNT = re.compile(_CLAUSE_START + r"how\s+(much|many)\b", re.IGNORECASE)  # its answer is an amount
# "How much is/does it cost" asks a price; "how much does it weigh" or "how much of your revenue" does not.
_ASKS_PRICE = re.compile(r"\b(?:cost|costs|price|prices|priced|fee|fees)\b"
                         r"|" + _CLAUSE_START + r"how\s+much(?:\s+is|\s+are|'s)\b", re.IGNORECASE)
# "What do you charge to cut a lock?", "what would we pay per plate?", "what's the fee for...?", "what fees
# apply?", "what's it going to set me back?" ask a price; "what happens if I don't pay?", "what do I need to
# charge the battery?", "what's included in the price?", "what is the price match policy?" do not. "What does
# that come to (per serving / in total)?" and "what would it work out at?" do; "what does it come to mean?",
# "what will the courier come to collect?" and "what do I pay with?" do not.
_GAP = (r"(?:\s+(?!(?:if|when|unless|need|needs|happen|happens|way|best|do|to|in|with|included)\b)"
        r"[\w'\u2019-]+(?:\.\d+)?){%s}")  # a word, or a figure: "the 1.74 lenses"
_ASKS_WHAT_PRICE = re.compile(
    r"^\W*(?:and\s+|so\s+|ok(?:ay)?,?\s+)*what(?:"
    r"\s+(?:fees?|prices?|charges?|costs?)\b"  # "what fees do you charge?", "what price is the Duo?"
    r"|(?:['\u2019]s|\s+is)\s+the\s+damage\s*(?:\?|$|,|for\b|if\b|then\b)"  # "what's the damage for the scan?"
    r"|(?:['\u2019]s|\s+is)\s+the\s+(?:least|most|lowest|highest|cheapest|minimum|maximum)"  # "the least I can pay"
    r"(?:\s+(?:i|we|you)(?:['\u2019]d)?)?(?:\s+(?:can|could|will|would|should|must|might))?"
    r"(?:\s+(?:have|need|got)\s+to)?\s+pay(?:ment)?\b"
    r"|(?:['\u2019]s|\s+is|\s+are)" + _GAP % "0,3" + r"?\s+(?:cost|costs|price|prices|fee|fees|charge|charges)"
    r"\s*(?:\?|$|of\b|for\b|to\b|on\b|per\b|at\b|if\b)"  # "what's the fee for...?", not "the price match policy"
    r"|\s+(?:do|does|did|will|would)" + _GAP % "1,4" + r"?\s+(?:cost|(?:charge|pay)(?!\s+(?:with|by|into)\b)"
    r"|add\s+to\s+(?:the|my|our|your)(?:\s+\w+)?\s+(?:bill|price|cost|total|order)s?"  # "add to my monthly bill?"
    r"(?=\s*(?:[?,.]|$|for\b|each\b|per\b|a\s+(?:month|week|year)\b))"
    r"|come\s+to(?=\s*(?:[?,.]|$)|\s+(?:per|for|in\s+total|altogether|each|a\s+(?:month|week|year|night|day)|with|if"
    r"|after|once)\b)|work\s+out\s+(?:at|to))\b)"
    r"|\bset\s+(?:me|us|you)\s+back\b(?!\s+(?:a|an|one|two|three|\d+)\s+(?:day|week|month|hour)s?\b)",
    re.IGNORECASE)
_CURRENCY = (r"[$\u20ac\u00a3\u00a5\u00a2\u20b9\u20a9\u20ba\u20bd\u20aa\u0e3f\u20ab]"
             r"|\b(?:[A-Z]{3}|kr|Rs|dollars?|euros?|pounds?|cents?|usd|eur|gbp)\b")  # "SEK", "USD": an ISO code
# A price: a figure beside a currency, a percentage ("10% off"), pence, or a figure labelled a price ("Price (USD): 1,799").
_PENCE = r"(?<![\w.,\u2013-])\d{1,2}p\b(?!\.m\b)"  # "5p per page" ("1080p", "5p.m.", "9-5p" are no price)
_PRICE = re.compile(rf"(?:{_CURRENCY})\s?\.?\d|\d\s?(?:{_CURRENCY})|\d\s?%|{_PENCE}"
                    rf"|\b(?i:price|cost|fee)s?\b[^.;\n]*?\d")
_MONEY = re.compile(rf"(?:{_CURRENCY})\s?\.?{_FIGURE}|(?<![\w.]){_FIGURE}\s?(?:{_CURRENCY})|{_PENCE}")
# Amounts without a digit, as words rather than stems: "it is included" states a price,
# "the plan includes everything you need" does not; "no charge" does, "charge it" does not.
_AMOUNT_WORDS = re.compile(r"(?<![-\w])(?<!feel )free\b|\b(?:included|complimentary|unlimited|none|zero|waived"
                           r"|no\s+(?:extra\s+|additional\s+)?(?:charge|cost|fees?))\b", re.IGNORECASE)
# "With standard delivery included" tells what else a plan has, not what the thing asked about costs ("how much
# is delivery?" is answered by it, "what does that come to per serving?" is not).
_WITH_INCLUDED = re.compile(r"\bwith\s+((?:[\w'\u2019-]+\s+){0,4}?)included\b", re.IGNORECASE)
_COUNT_WORDS = re.compile(r"\b(?:unlimited|none|zero)\b", re.IGNORECASE)  # "free" is a price, not a count
# "When is it open?", "Who founded it, and when?": its answer is a time ("What happens when it rains?" asks
# none, and "when can I cancel?" or "when do I need to verify?" ask about a condition as often as a time).
_ASKS_TIME = re.compile(r"^\W*(?:and\s+|so\s+)?(?:when(?:['\u2019]s\b|\s+(?:is|are|does|did|will|would|was|were)\b"
                        r"|\s+do\s+(?!i\b|we\b))|(?:by\s+|until\s+|from\s+)?what\s+time\b|how\s+(?:early|late|soon)\b)"
                        r"|\band\s+when\s*\?\s*$", re.IGNORECASE)
# A deadline or a day ("what's the deadline/cut-off...?", "when's the order deadline?", "what's the last day to...?",
# "what's the latest I can swap?", "by/until when...?", "which days do you deliver?", "on what date does it end?";
# not "what's the cut-off for free delivery?", "what's the cut-off age?", "what's the latest?", "which day pass
# should I buy?", "what date format do you use?"): its answer names a day, a date or a clock time ("Wednesday at
# 12:00 noon", "31/08/2025", "within 30 days", "48 hours before delivery"), not any time word ("tap Skip this week
# before your weekly cut-off").
_WEEKDAYS = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
_MONTHS = r"january|february|april|june|july|august|september|october|november|december"  # "May", "March": words too
_DEADLINE = r"(?:[\w'\u2019-]+\s+){0,2}?(?:deadlines?|cut[\s-]?offs?|(?:last|final)\s+(?:day|date))"
_ASKS_DAY = re.compile(
    r"^\W*(?:and\s+|so\s+)?(?:(?:by|until|till)\s+when\b"
    r"|(?:on\s+)?(?:what|which)\s+(?:days?|dates?)(?:\s+of\s+the\s+(?:week|month))?"
    r"\s+(?:is|are|do|does|did|can|could|will|would|should|was|were)\b"
    r"|(?:what|when)(?:['\u2019]s|\s+is|\s+are|\s+was)\s+(?:the\s+|your\s+|my\s+|our\s+)?" + _DEADLINE +
    r"(?=\s*(?:[?,.;]|$)|\s+(?:if|to|for(?!\s+free\b)|on|in|when|this|next|before|of\s+(?:the|my|our|a))\b)"
    r"|what(?:['\u2019]s|\s+is|\s+are)\s+the\s+(?:latest|earliest)(?=\s+(?:i|we|you|time|day|date|point|possible)\b))",
    re.IGNORECASE)
_COUNT = (r"(?:\d+(?:\s*(?:-|to)\s*\d+)?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
          r"|fourteen|twenty|thirty|forty[-\s]eight|ninety)")
_DAY_UNIT = r"\s*(?:working\s+|business\s+|calendar\s+|full\s+)?(?:minutes?|mins?|hours?|hrs?|h|days?|weeks?|months?)"
_MONTH_SHORT = r"(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
_DAY = re.compile(
    rf"\b(?:{_WEEKDAYS}|weekdays?|weekends?|daily|every\s+day|{_MONTHS}|today|tomorrow|tonight|noon|midday|midnight"
    r"|end\s+of\s+the\s+(?:day|week|month))\b"
    r"|(?-i:\b(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b)(?=\s*[-\u2013,./]|\s+(?:to|and)\b)"  # "Mon-Fri"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:march|may|{_MONTH_SHORT})(?!\w)|\b(?:march|may|{_MONTH_SHORT})\s+\d{{1,2}}\b"
    r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|\bthe\s+\d{1,2}(?:st|nd|rd|th)\b"
    r"|\b\d{1,2}(?:[:.]\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)(?!\w)|\b\d{1,2}:\d{2}\b"
    rf"|\b(?:within|in)\s+{_COUNT}{_DAY_UNIT}\b"
    rf"|\b{_COUNT}{_DAY_UNIT}(?:['\u2019]s?)?\s+(?:before|after|ahead|in\s+advance|prior|notice)\b",
    re.IGNORECASE)
# "How long...?" at a clause's start ("..., and how long is it?"; not "does it depend on how long I've had
# it?"): a duration ("2 years", "15 seconds", "24h", "for the lifetime of the owner", "since 2014", "never
# expire") or a length ("1.5 m"), not any figure ("Someone aged 18 or over must be at home for the visit")
# nor any time word ("Register your bike after delivery").
_ASKS_DURATION = re.compile(_CLAUSE_START + r"how\s+long\b", re.IGNORECASE)
_DURATION = re.compile(r"\b(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|nights?|weeks?|wks?|fortnights?|months?"
                       r"|years?|yrs?|decades?|overnight|lifetime|for\s+life|forever|indefinitely|since|never"
                       r"|immediately|instantly|straight\s+away)\b"
                       rf"|(?<![\w.]){_FIGURE}\s?h\b"  # "24h"
                       rf"|(?<![\w.]){_FIGURE}[\s-]?(?:mm|cm|m|km|metres?|meters?|ft|feet|foot|inch(?:es)?|yards?"
                       r"|miles?)\b", re.IGNORECASE)
# "What's the phone number for support?" asks for one; "how do I change my phone number?" does not.
_ASKS_FOR = r"^\W*(?:what(?:['\u2019]s|\s+is|\s+are)|which|give\s+me|do\s+you\s+have)\b(?![^?]*\bmy\b)[^?]*"
_ASKS_PHONE = re.compile(_ASKS_FOR + r"\b(?:tele)?phone\s+numbers?\b"
                         r"|\bwhat\s+numbers?\s+(?:do|can|should)\s+(?:i|we)\s+(?:call|ring)\b", re.IGNORECASE)
_ASKS_EMAIL = re.compile(_ASKS_FOR + r"\be-?mail(?:\s+address(?:es)?)?\b", re.IGNORECASE)
# A time without a digit ("on Mondays", "within a week", "any time"); "May" and "March" are left out, being words too.
_TIME_WORDS = re.compile(rf"\b(?:{_WEEKDAYS}|weekdays?|weekends?|{_MONTHS}|today|tomorrow|tonight|"
                         r"yesterday|daily|weekly|monthly|annually|yearly|immediately|instantly|always|never|"
                         r"any\s*time|mornings?|afternoons?|evenings?|noon|midnight|minutes?|hours?|days?|weeks?|"
                         r"months?|years?|within|until|before|after|once|end\s+of|as\s+soon\s+as)\b",
                         re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[,;]\s|\s(?:and|but|while|whereas)\s", re.IGNORECASE)
_HEADING_LINE = re.compile(r"^\s*#{1,6}\s.*$", re.MULTILINE)
FACTUAL_MIN_TERMS = 3  # a sentence with fewer content terms and no figures is chatter ("Happy to help!")


def _number(raw: str) -> str:
    value = raw.replace(",", "").rstrip(".")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value.lstrip("0") or "0"


def _digits(raw: str) -> str:
    return re.sub(r"\D", "", raw)


def facts(text: str, times: bool = True) -> list[str]:
    """The checkable figures in a text, normalised: ``email:...``, ``phone:<digits>``,
    ``time:HH:MM`` (a time of day with am or pm is checked as one: "2pm" is not vouched for
    by the "2" of "2 years"; ``times=False``: its numbers instead) and ``n:<number>``."""
    found = [f"email:{m.lower()}" for m in EMAIL.findall(text)]
    rest = EMAIL.sub(" ", text)
    for m in phones(rest):
        found.append(f"phone:{_digits(m)}")
        rest = rest.replace(m, " ")
    if times:
        def as_time(m: re.Match) -> str:  # "2pm" -> time:14:00, out of the numbers
            said = _time(m)
            if said:
                found.append(said)
            return " " if said else m.group(0)
        rest = _AM_PM.sub(as_time, rest)
    found += [f"n:{_number(m)}" for m in _NUMBER.findall(rest)]
    return list(dict.fromkeys(found))


_AM_PM = re.compile(r"(?<![\w.:])(\d{1,2})(?:[:.]([0-5]\d))?\s*([ap])\.?m\b\.?", re.IGNORECASE)  # 2pm, 8.30 a.m.
_HOUR = r"(?<![\w.:])(\d{1,2})(?:[:.]([0-5]\d))?(?![\d%])"
# What a passage states as a time without am or pm: "18:00", "9.00" (not money), either end of
# "9-5pm", "8-8", "9 to 5", "noon": any of them may be either half of the day.
_CLOCK = re.compile(r"(?<![\w.:])(\d{1,2})[:.]([0-5]\d)(?![\d:])")
_HOUR_RANGE = re.compile(_HOUR + r"\s*(?:-|\u2013|to|until|till)\s*" + _HOUR, re.IGNORECASE)
_NAMED_TIMES = {"noon": ("12:00",), "midday": ("12:00",), "midnight": ("00:00", "23:59")}
_NAMED_TIME = re.compile(r"\b(noon|midday|midnight)\b", re.IGNORECASE)


def _time(m: re.Match) -> str:
    """``_AM_PM``'s match as ``time:HH:MM`` (24-hour); "" if it is no time ("13pm")."""
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= hour <= 12:
        return ""
    return f"time:{hour % 12 + (12 if m.group(3).lower() == 'p' else 0):02d}:{minute:02d}"


def passage_times(text: str) -> set[str]:
    """The times of day a passage vouches for, however it writes them (see ``_CLOCK``)."""
    found = {_time(m) for m in _AM_PM.finditer(text)} - {""}
    unpriced = _MONEY.sub(" ", text)
    hours = [(m.group(1), m.group(2)) for m in _CLOCK.finditer(_AM_PM.sub(" ", unpriced))]
    for m in _HOUR_RANGE.finditer(unpriced):  # "9-5pm": the 9
        hours += [(m.group(1), m.group(2)), (m.group(3), m.group(4))]
    for hour, minute in hours:
        if int(hour) <= 23:
            found.add(f"time:{int(hour):02d}:{minute or '00'}")
            if 1 <= int(hour) < 12:
                found.add(f"time:{int(hour) + 12:02d}:{minute or '00'}")
    found |= {f"time:{t}" for m in _NAMED_TIME.finditer(text) for t in _NAMED_TIMES[m.group(1).lower()]}
    return found


def passage_facts(text: str) -> set[str]:
    """What a passage can vouch for: its own figures (its times of day, and their numbers: "open
    until 6" of "6pm"), number words as digits, and any digit run (so a phone written
    differently in the answer still matches)."""
    found = set(facts(text, times=False)) | passage_times(text)
    found |= {f"n:{_NUMBER_WORDS[w]}" for w in _WORDS.findall(text.lower()) if w in _NUMBER_WORDS}
    found |= {f"phone:{_digits(m)}" for m in PHONE.findall(text)}
    return found


def vouched(fact: str, figures: set[str]) -> bool:
    """A phone number matches with or without its country code; anything else exactly."""
    if fact in figures:
        return True
    if fact.startswith("phone:"):
        digits = fact[6:]
        return any(f.startswith("phone:") and (f[6:].endswith(digits) or digits.endswith(f[6:])) for f in figures)
    return False


@dataclass
class _Unit:
    figures: set[str]
    terms: set[str]  # its own, its table header's, its heading's (and the sentence before, for "It costs ...")


@dataclass
class PassageFigures:
    """A passage's sentences and table rows with the figures they hold, and how many
    units each term appears in (a term in every sentence, like the brand's name,
    says little about which number is meant)."""

    units: list[_Unit]
    df: dict[str, int]

    @classmethod
    def of(cls, passage: str) -> PassageFigures:
        units, df, previous = [], {}, set()
        for unit in split_units(passage):
            own = set(terms(unit.text)) | set(terms(unit.header or "")) | set(terms(unit.heading))
            for t in own:
                df[t] = df.get(t, 0) + 1
            units.append(_Unit(passage_facts(unit.text), own | (previous if _ANAPHOR.match(unit.text) else set())))
            previous = own
        return cls(units, df)

    def bound(self, fact: str, contexts: Sequence[set[str]]) -> bool:
        """Does the passage state this number (or time of day) about what the answer says it is about
        (``contexts``: the words of each clause of the answer's sentence that holds it)?
        Yes when a sentence or row holding the number has at least half of those words
        the passage knows (weighted by rarity), or no sentence without it has more:
        "the frame: 2 years" is not bound in "Frames: lifetime. Motors and batteries:
        2 years." E-mails and phones name themselves; a number held only outside any
        sentence (a table's header) is not judged."""
        if not fact.startswith(("n:", "time:")):
            return True
        holders = [u for u in self.units if fact in u.figures]
        return not holders or any(self._bound_in(fact, context, holders) for context in contexts)

    def _bound_in(self, fact: str, context: set[str], holders: list[_Unit]) -> bool:
        known = {t for t in context if t in self.df}
        if not known:
            return True
        weight = {t: math.log(1 + (len(self.units) + 1) / (1 + self.df[t])) for t in known}
        total = sum(weight.values())

        def share(unit: _Unit) -> float:
            return sum(weight[t] for t in known & unit.terms) / total

        held = max(share(u) for u in holders)
        other = max((share(u) for u in self.units if fact not in u.figures), default=0.0)
        return held >= 0.5 or other <= held


def checkable(citation: dict) -> str:
    """A citation's text as ``attribute`` should read it: under its section's heading, which
    a chunk's text leaves out and which often names what its numbers are about."""
    text, section = citation.get("text") or "", citation.get("section")
    return f"# {section}\n{text}" if section else text


def figure_contexts(sentence: str) -> dict[str, list[set[str]]]:
    """Each figure of a sentence -> the words of the clauses holding it (less the units
    the numbers carry): in "The K1 costs $3,899, the F1 $1,799", $1,799 is about the F1."""
    out: dict[str, list[set[str]]] = {}
    for clause in _CLAUSE_BREAK.split(sentence):
        units = {t for m in _UNIT_AFTER.finditer(clause) for t in terms(m.group(1))}
        words = {t for t in terms(clause) if not t.isdigit()} - units
        for fact in facts(clause):
            out.setdefault(fact, []).append(words)
    return out


@dataclass
class Sentence:
    text: str
    start: int
    end: int
    factual: bool = False
    facts: list[str] = field(default_factory=list)
    passages: list[int] = field(default_factory=list)  # the supporting passages' numbers
    support: float = 0.0  # the best passage's support score
    missing: list[str] = field(default_factory=list)  # figures no cited passage contains

    @property
    def supported(self) -> bool:
        return not self.factual or (bool(self.passages) and not self.missing)


@dataclass
class Attribution:
    text: str  # the answer without the model's markers
    sentences: list[Sentence]

    @property
    def factual(self) -> list[Sentence]:
        return [s for s in self.sentences if s.factual]

    @property
    def unsupported(self) -> list[Sentence]:
        return [s for s in self.sentences if not s.supported]

    @property
    def groundedness(self) -> float | None:
        """The share of factual sentences that are supported (None: the answer states no fact)."""
        factual = self.factual
        return sum(s.supported for s in factual) / len(factual) if factual else None

    def used(self) -> dict[int, dict]:
        """Passage number -> its best support score and the sentences it supports."""
        out: dict[int, dict] = {}
        for s in self.sentences:
            if s.factual and s.supported:
                for n in s.passages:
                    entry = out.setdefault(n, {"support": 0.0, "sentences": []})
                    entry["support"] = max(entry["support"], s.support)
                    entry["sentences"].append(s.text)
        return dict(sorted(out.items()))

    def marked(self, mark_unsupported: bool = False) -> str:
        """The answer with ``[n]`` after each supported factual sentence (before its
        final punctuation), and ``[unverified]`` after unsupported ones if asked."""
        out, last = [], 0
        for s in self.sentences:
            if s.factual and (s.supported or mark_unsupported):
                label = "".join(f"[{n}]" for n in s.passages) if s.supported else UNSUPPORTED_MARK
                body = self.text[s.start:s.end]
                tail = _TRAILING.search(body).start()
                out += [self.text[last:s.start], body[:tail], f" {label}", body[tail:]]
                last = s.end
        out.append(self.text[last:])
        return "".join(out)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line; a decimal point or an e-mail's dot does not end one."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def strip_markers(answer: str) -> str:
    return MARKER.sub("", answer)


def _without(text: str, phrases: Sequence[str]) -> str:
    for phrase in phrases:
        if phrase.strip():
            text = re.sub(re.escape(phrase.strip()), " ", text, flags=re.IGNORECASE)
    return text


def _cosine(a, b) -> float:
    return float(sum(x * y for x, y in zip(a, b)))


def attribute(answer: str, passages: Sequence[str], *, embed: Callable[[list[str]], Sequence] | None = None,
              min_support: float = 0.5, voice_phrases: Sequence[str] = ()) -> Attribution:
    """Match each sentence of ``answer`` to the passages (numbered from 1) that support it.

    Support of a sentence by a passage: the share of the sentence's content
    terms the passage contains, averaged with their embedding cosine when
    ``embed`` (texts -> L2-normalised vectors) is given. A factual sentence
    (one with figures, or with ``FACTUAL_MIN_TERMS`` content terms once the
    brand's ``voice_phrases`` are removed) cites the best passage scoring at
    least ``min_support``, then further passages for any figure the first
    lacks; figures no cited passage contains, or holds only about something
    else (``bound``), leave it unsupported."""
    text = strip_markers(answer)
    passage_terms = [set(terms(p)) for p in passages]
    passage_figures = [passage_facts(_HEADING_LINE.sub(" ", p)) for p in passages]  # a heading states no fact
    passage_numbers = [PassageFigures.of(p) for p in passages]
    sentences = []
    for start, end in split_sentences(text):
        body = _without(text[start:end], voice_phrases)
        found = facts(body)
        content = set(terms(body))
        sentences.append(Sentence(text[start:end], start, end, facts=found,
                                  factual=bool(found) or len(content) >= FACTUAL_MIN_TERMS))
    factual = [s for s in sentences if s.factual]
    similarity = [[0.0] * len(passages) for _ in factual]
    if embed is not None and factual and passages:
        vectors = list(embed([s.text for s in factual] + list(passages)))
        for i in range(len(factual)):
            for j in range(len(passages)):
                similarity[i][j] = max(0.0, _cosine(vectors[i], vectors[len(factual) + j]))
    for i, s in enumerate(factual):
        content = set(terms(_without(s.text, voice_phrases))) or {""}
        scores = []
        for j in range(len(passages)):
            lexical = len(content & passage_terms[j]) / len(content)
            scores.append((lexical + similarity[i][j]) / 2 if embed is not None else lexical)
        order = sorted(range(len(passages)), key=lambda j: -scores[j])
        cited: list[int] = []
        remaining = set(s.facts)
        contexts = figure_contexts(_without(s.text, voice_phrases))
        for j in order:
            found_here = {f for f in remaining if vouched(f, passage_figures[j])
                          and passage_numbers[j].bound(f, contexts.get(f, [set()]))}
            if (scores[j] >= min_support and not cited) or (cited and found_here and scores[j] >= min_support / 2):
                cited.append(j)
                remaining -= found_here
        s.passages = [j + 1 for j in cited]
        s.support = round(scores[order[0]], 4) if order else 0.0
        s.missing = sorted(remaining) if cited else list(s.facts)
    return Attribution(text, sentences)


# -- the answer policy -----------------------------------------------------------

@dataclass
class Verdict:
    text: str  # what ships
    outcome: str  # shipped | annotated | extract | no_answer | refused
    attribution: Attribution | None = None
    used: dict[int, dict] = field(default_factory=dict)  # passage number -> support, sentences

    @property
    def replaced(self) -> bool:
        return self.outcome in ("extract", "no_answer", "refused")

    @property
    def groundedness(self) -> float | None:
        if self.outcome == "no_answer" or self.outcome == "refused":
            return None
        return self.attribution.groundedness if self.attribution else None


def extract_answer(evidence: Sequence, *, question: str = "", min_coverage: float = 0.0,
                   min_similarity: float = WORDS_ONLY, reads: Callable[[str], bool] | None = None,
                   confirms: Callable[[str], bool] | None = None, meaning: Callable[[], Closeness] | None = None,
                   greeting: str = "", sign_off: str = "", max_units: int = 2) -> tuple[str, dict[int, dict]] | None:
    """A quoted, cited answer from the best evidence units (``EvidencePassage``s numbered
    from 1, each unit with its relevance score), in the brand's voice; None if no unit
    is relevant, or the quoted units do not say what ``question`` asks (``said``: less
    than ``min_coverage`` of its key terms, and none ``min_similarity`` close to it in
    meaning; quoting the store's address to "are you opening a store in Europe?"
    would be an answer to another question; for a question words or meaning let in, the
    key terms of its asking sentences alone count too, ``tenor.evidence.phrasings``: a
    scene set first, "We've just moved in together.", is in no document), or
    the quoted units do not state what the question asks for (``states_asked``:
    quoting "we sell bikes" to "how many bikes did you sell?" answers nothing; a
    unit ending in a colon is judged with the list or table it introduces, as it is
    quoted). Of two units that state what is asked and score the same, the one with
    more of its own words in the question comes first (``_on_point``).

    For a question words and meaning fell short of and the reader let in (``reads``:
    a quote -> whether the reader says it answers the question), the reader may say
    so of the best units' quote; when it does not, it picks the quote among the first
    ``READ_CANDIDATES`` units, the best-scoring one whose quote it says answers ("New
    customers get 40% off their first box" to "is there any deal on my first
    delivery?", which shares no key term with it and scores below five other
    sentences by words). It reads a unit with the list or table it introduces and
    what it goes on from in its list item, not the sentence after it: the point must
    answer, and a following sentence on something else dilutes the read.

    For a question the words let in (``confirms``: a quote -> whether the reader says it
    answers), when the best units' quote states what is asked but says too little of the
    question by words and meaning, the reader reads the quote that would ship (for a table
    row, the row its name means, below), and only it: the words pick, the reader confirms.

    With ``meaning`` (it embeds the question and returns its ``Closeness``, called only when
    a table row is picked), each picked row may give way to the row of its table whose name
    means the question (``_named_rows``); not for a question only the reader let in (``reads``).

    Each quoted sentence brings the one after it in its paragraph: a document
    states a point, then what follows from it ("Never use a third-party charger.
    ... using one voids the warranty"; an FAQ's "Q: Do gift cards expire? A: Never."
    then "A gift card keeps its full value until it is used."), and the question's
    words are mostly in the first. Not a next question (an FAQ with no blank lines
    runs on into its next "Q: ...? A: ..."), nor a run-on block of
    over ``CONTINUATION_TOKENS``. So a price asked for may be stated by the sentence
    after a unit ("... a member of staff will cut the lock off for you. Lock removal
    costs $25." to "what do you charge to cut it off?"), not a count or a time, which
    may be another thing's, unless both are in one list item under its label ("- **Direct
    Debit**: the easiest way. We collect the payment 10 days after your bill date." to
    "when is the Direct Debit taken?", ``_one_item``). A sentence inside a list item comes
    with the item's sentences before it when they are no more than ``CONTINUATION_TOKENS``:
    it goes on from them ("- A guest can stay for up to 4 hours a day. Anyone staying longer,
    or working at a desk, needs their own Day Pass (£25)."). Coverage reads the picked units
    alone (for a row that gives way to the one its name means, the row picked), so what is
    refused stays refused."""
    units = [(score, n, unit) for n, e in enumerate(evidence, start=1)
             for unit, score in zip(e.units, e.scores) if score > 0]
    units.sort(key=lambda u: (-u[0], u[1], u[2].order))
    if not units:
        return None
    best = units[0][0]
    passage_units: dict[int, list] = {}  # passage number -> its units, split once (here and in _quotes)
    prices = any(_amount_asked(sentence) == "price" for sentence in asking(question))

    def states(n: int, unit) -> bool:  # what is asked, in the unit as quoted (or a price in the sentence after it)
        if states_asked(unit.plain(), question):
            return True
        units_of_passage = _split(evidence, n, passage_units)
        introduced = _introduced(unit, units_of_passage)  # "How much you get back depends on...:" and its table
        if introduced and states_asked(f"{unit.plain()} {_items_plain(introduced)}", question):
            return True
        after = _continuation(unit, units_of_passage)
        if after is None or not (_one_item(unit, after) or prices and _same_thing(unit, after)):
            return False  # a count or a time after it may be another thing's ("Motors: 2 years" after "Frames: lifetime")
        return states_asked(f"{unit.plain()} {after.plain()}", question)

    if asks_for_something(question):  # those that state what is asked, best first (of equals, the most on the point)
        asked_terms = question_terms(question)
        units = sorted((u for u in units if states(u[1], u[2])), key=lambda u: (-u[0], -_on_point(u[2], asked_terms))
                       ) or units
        best = units[0][0]

    asked = [question] if reads else phrasings(question)  # the reader, not an asking sentence's words, judges

    def read_text(picked: list) -> str:  # what the reader reads of a pick: its quote, not the sentence after it
        return " ".join(quote for _, quote in _quotes(picked, evidence, passage_units, follow=False))

    def answers(picked: list) -> bool:  # says what is asked, by words or meaning, or the reader says its quote does
        quoted = [EvidencePassage(evidence[n - 1].passage, [unit], [score]) for score, n, unit in picked]
        if not any(states(n, u) for _, n, u in picked):
            return False
        if not question or said(coverage(quoted, *asked), closest(quoted), min_coverage, min_similarity):
            return True
        return bool(reads) and reads(read_text(picked))

    picked = [u for u in units[:max_units] if u[0] >= 0.75 * best]
    confirming = False  # the words' pick, to ship only if the reader says it answers
    if not answers(picked):
        if reads:
            picked = next(([u] for u in units[:READ_CANDIDATES] if answers([u])), None)
        elif confirms and any(states(n, u) for _, n, u in picked):
            confirming = True
        else:
            picked = None
    if picked is None:
        return None
    if meaning is not None and not reads and any(unit.is_row for _, _, unit in picked):  # not the reader's pick
        picked = _named_rows(picked, question, meaning(), lambda n: _split(evidence, n, passage_units), states)
    if confirming and not confirms(read_text(picked)):
        return None  # the quote that would ship is the one read
    quotes, used = [], {}
    for n, quote in _quotes(picked, evidence, passage_units):
        quotes.append(f"\u201c{quote}\u201d [{n}]")
        entry = used.setdefault(n, {"support": 1.0, "sentences": []})
        entry["sentences"].append(quote)
    body = "Here is what our documents say: " + " ".join(quotes)
    text = "\n".join(part for part in (greeting.strip(), body, sign_off.strip()) if part)
    return text, dict(sorted(used.items()))


def _named_rows(picked: Sequence, question: str, closeness: Closeness, units_of: Callable[[int], list],
                states: Callable[[int, object], bool]) -> list:
    """The picked (score, passage number, unit)s, each table row among them replaced by the row
    of its table whose name (its first cell) the question means: words find the table, not
    always the row ("a normal eye check" shares "check" with the "Contact lens check-up" row,
    and means the "Standard eye test" row; "on the hot desk plan" is in the Day Pass row too,
    "Any free hot desk").

    A row gives way to one whose name is ``NAME_MARGIN`` closer in meaning to the question
    (``closeness``: to the question or its conversation's retrieval query, which names what
    "and how much does it cost?" is about) and at least ``MEANING_FLOOR`` close, or holds a
    figure the question names ("the 1.74 lenses"), if that row states what is asked and holds
    every key term of the question the first row's other cells hold, its columns' names aside
    (the words found "astigmatism" in the Daily Toric plan's "What you get", or "10" in the
    Day Pass's print pages, whatever another row's name means). A row the question names, in
    full or by a figure in its name, stays, and of two rows of one table the words found, each
    gives way only to such a row: "how much more is the mountain bike than the city one?"
    keeps both. The row given way to is held to what is asked (``states``), not to the
    question's words (``said``): its name says the question in other words."""
    figures = set(_NUMBER.findall(question))
    asked = question_terms(question)
    picked_rows = {(n, unit.order) for _, n, unit in picked if unit.is_row}

    def figure_named(row) -> bool:  # "the 1.74 lenses"
        return bool(figures & set(_NUMBER.findall(row.cells[0])))

    def named(row) -> bool:  # in full, or by a figure
        name = set(terms(row.cells[0]))
        return bool(name) and name <= asked or figure_named(row)

    out: dict[tuple[int, int], tuple] = {}
    for score, n, unit in picked:
        if unit.is_row and not named(unit):
            rows = [row for row in table_of(unit, units_of(n)) if row.cells[0]]
            close = dict(zip((row.order for row in rows), closeness([row.cells[0] for row in rows])))
            found = asked & set(terms(" ".join(unit.cells[1:]))) - set(terms(unit.header))
            two_found = len(picked_rows & {(n, row.order) for row in rows}) > 1

            def by_name(row) -> float:  # a figure counts in a name that means the question at all
                near = close.get(row.order, 0.0)
                return near + (1.0 if near >= MEANING_FLOOR and figure_named(row) else 0.0)
            best = max(rows, key=by_name, default=unit)
            if (best.order != unit.order and by_name(best) >= max(by_name(unit) + NAME_MARGIN, MEANING_FLOOR)
                    and (named(best) or not two_found)
                    and found <= set(terms(best.text)) and states(n, best)):
                unit = best
        out.setdefault((n, unit.order), (score, n, unit))
    return list(out.values())


def _on_point(unit, asked_terms: set[str]) -> float:
    """The share of a unit's own words the question asks with: of two units that state the price
    asked and score the same, "Price: $3,899" under "Cargo K1" is more on the point of "what does
    the Cargo K1 cost?" than "The child seats are an option and cost $149 each." (figures are no
    words). Not for other questions: "The app is free." is no better an answer to "what can the
    app do?" than a list of what it does."""
    own = {t for t in terms(unit.plain()) if not t.isdigit()}
    return len(own & asked_terms) / len(own) if own else 0.0


def _split(evidence: Sequence, n: int, passage_units: dict[int, list]) -> list:
    """Passage ``n``'s units (``split_units`` of its whole text), split once per ``passage_units``."""
    if n not in passage_units:
        passage_units[n] = split_units(evidence[n - 1].full_text)
    return passage_units[n]


def _quotes(picked: Sequence, evidence: Sequence, passage_units: dict[int, list],
            follow: bool = True) -> list[tuple[int, str]]:
    """(passage number, quote) for the picked (score, passage number, unit)s: each unit with
    the list or table it introduces or the list it belongs to, the sentence after it (if
    ``follow``), the sentences before it in its list item, and its topic (``passage_units``:
    the passages split so far, ``_split``)."""
    quotes = []
    quoted_units = {(n, unit.order) for _, n, unit in picked}
    in_lists: set[tuple[int, int]] = set()  # picked units already quoted with their whole list
    for score, n, unit in picked:
        if (n, unit.order) in in_lists:
            continue
        units_of_passage = _split(evidence, n, passage_units)
        items = list_of(unit, units_of_passage)
        quote = unit.plain().rstrip()
        continued, introduced = _continuation(unit, units_of_passage), _introduced(unit, units_of_passage)
        before = item_before(unit, units_of_passage)  # what the sentence goes on from, in its list item
        before_orders = {(n, u.order) for u in before}
        if before and _tokens(before) <= CONTINUATION_TOKENS and not before_orders & quoted_units:
            quote = f"{' '.join(u.plain().rstrip() for u in before)} {quote}"
            quoted_units |= before_orders
        if (any(m == n and u.order != unit.order and u in items for _, m, u in picked)
                and _tokens(items) <= LIST_TOKENS):
            quote = _list_quote(items)
            in_lists |= {(n, i.order) for i in items}
            quoted_units |= in_lists
        elif introduced:  # "If you store it:" and its steps, or a table
            quote = f"{quote} {_items_plain(introduced)}"
            in_lists |= {(n, i.order) for i in introduced}
            quoted_units |= in_lists
        elif follow and continued and (n, continued.order) not in quoted_units:
            quote = f"{quote} {continued.plain().rstrip()}"
            quoted_units.add((n, continued.order))
        topic = unit.heading or (getattr(evidence[n - 1], "section", None) or "").split(" > ")[-1]
        if topic and not set(terms(topic)) <= set(terms(quote)):  # "Price: $3,899" -> "Cargo K1: Price: $3,899"
            quote = f"{topic.rstrip(':')}: {quote}"
        quotes.append((n, quote))
    return quotes


def _introduced(unit, passage_units: Sequence) -> list:
    """The list or table (of up to ``LIST_TOKENS``) a unit ending in a colon introduces, which
    an extract quotes with it; else []."""
    after = following(unit, passage_units) if unit.text.rstrip().endswith(":") else None
    items = (list_of(after, passage_units) or table_of(after, passage_units)) if after else []
    return items if _tokens(items) <= LIST_TOKENS else []


def _items_plain(items: Sequence) -> str:
    return table_plain(items) if items[0].is_row else _list_quote(items)


def _continuation(unit, passage_units: Sequence):
    """The sentence an extract quotes after ``unit``: the next in its paragraph, unless it is a
    question (an FAQ's next "Q:") or a run-on block of over ``CONTINUATION_TOKENS``."""
    after = following(unit, passage_units)
    if (after is None or after.text.rstrip().endswith("?") or FAQ_QUESTION.match(after.text)
            or approx_tokens(after.text) > CONTINUATION_TOKENS):
        return None
    return after


def _same_thing(unit, after) -> bool:
    """Whether the sentence after ``unit`` goes on about its thing: it points back ("It costs
    $25") or shares a key term ("...cut the lock off. Lock removal costs $25"), unlike "Lockers
    cost $5 a month" after "...cut the padlock off"."""
    return bool(_ANAPHOR.match(after.plain().lstrip()) or set(terms(unit.plain())) & set(terms(after.plain())))


# A list item that names its thing first: "- **Direct Debit**: the easiest way. We collect the payment 10 days...".
_LABELLED_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(?:\*\*|__)?[^:.;!?\n]{1,40}?(?:\*\*|__)?:(?:\*\*|__)?\s+\S")
_LABEL = re.compile(r"^\s*(?:\*\*|__)?[^:.;!?\n\s][^:.;!?\n]{0,39}?(?:\*\*|__)?:\s")  # "Motors: 2 years."
_ADDRESSED = re.compile(r"^\W*(?:we|we['\u2019](?:re|ll|ve)|our|you|you['\u2019](?:re|ll|ve)|your)\b", re.IGNORECASE)


def _one_item(unit, after) -> bool:
    """Whether ``after`` goes on about the thing of the labelled list item ``unit`` opens: in it,
    under no label of its own, pointing back, sharing a key term or telling what we or you do
    ("- **Direct Debit**: the easiest way. We collect the payment 10 days after your bill date."
    states when the Direct Debit is taken; "- Frames: lifetime. Motors last 2 years." does not
    say how long frames last)."""
    return bool(_LABELLED_ITEM.match(unit.text) and not _LABEL.match(after.text)
                and (_same_thing(unit, after) or _ADDRESSED.match(after.plain())))


def _tokens(units: Sequence) -> int:
    return sum(approx_tokens(u.text) for u in units)


def _list_quote(items: Sequence) -> str:
    """A list's items in one line: "Ride stats: ...; Alarm: ...; Updates: ..."."""
    paragraphs: dict[int, list[str]] = {}
    for item in items:
        paragraphs.setdefault(item.paragraph, []).append(item.plain().rstrip())
    return "; ".join(" ".join(p).rstrip(";.") for p in paragraphs.values()) + "."


def states_asked(text: str, question: str, durations: bool = True) -> bool:
    """Whether ``text`` states what ``question`` asks for, read from its asking sentences
    (``tenor.evidence.asking``; of two, one answered will do): an amount to "how much/many"
    or a price to "what do you charge...?" (``states_amount``), a time to "when is/does...?",
    "what time...?", "how early...?" or "...and when?" (a figure, a
    weekday, a month, "daily", "the same day"...), a day, a date or a clock time to a deadline
    or a day asked for ("what's the cut-off...?", "which days do you deliver?": "Wednesday at
    noon", "31/08/2025", "within 30 days"; not "tap Skip before your weekly cut-off"), a
    duration or a length to "how long...?"
    ("2 years", "15 seconds", "lifetime", "1.5 m"; not "aged 18"; with ``durations=False``, not
    held to one), a phone number to "what's the phone
    number?", an e-mail address to "what's your email address?"; to any other
    question, True. ("Our founders are passionate riders" answers "who founded you, and
    when?" no more than silence, nor "the phone line closes at 5" "what's the phone number?")"""
    asks = [sentence for sentence in asking(question) if _asks_something(sentence)]
    return not asks or any(_states(text, sentence, durations) for sentence in asks)  # one of two answered will do


def _states(text: str, sentence: str, durations: bool = True) -> bool:
    if _ASKS_PHONE.search(sentence) and not phones(text):
        return False
    if _ASKS_EMAIL.search(sentence) and not EMAIL.search(text):
        return False
    if _ASKS_TIME.search(sentence) and not (_states_a_number(text) or _TIME_WORDS.search(text)):
        return False
    if durations and _ASKS_DURATION.search(sentence) and not _DURATION.search(text):
        return False
    if _ASKS_DAY.search(sentence) and not _DAY.search(text):
        return False
    return states_amount(text, sentence)


def asks_for_something(question: str) -> bool:
    """Whether ``states_asked`` holds ``question``'s answer to a kind (an amount, a time, a day or
    a deadline, a duration, a phone number, an e-mail address) rather than passing any text."""
    return any(_asks_something(sentence) for sentence in asking(question))


def _asks_something(sentence: str) -> bool:
    kinds = (_ASKS_TIME, _ASKS_DAY, _ASKS_DURATION, _ASKS_PHONE, _ASKS_EMAIL)
    return bool(_amount_asked(sentence)) or any(kind.search(sentence) for kind in kinds)


def _amount_asked(sentence: str) -> str | None:
    """What amount one asking sentence asks for: "many" (a count), "price", "much" (any amount), or None."""
    if _ASKS_WHAT_PRICE.search(sentence):
        return "price"
    asks = _ASKS_AMOUNT.search(sentence)
    if not asks:
        return None
    return "many" if asks.group(1).lower() == "many" else "price" if _ASKS_PRICE.search(sentence) else "much"


def states_amount(text: str, question: str) -> bool:
    """Whether ``text`` can answer ``question``'s "how much/many": "how many" wants a
    count (a figure that is not a price, or a number word), "how much" with "cost",
    "price", "fee" or "how much is" a price (a figure with a currency, a percentage, a
    figure labelled price or cost, or "free", "included"...), any
    other "how much" a figure or an amount word; "what do you charge...?", "what does it
    cost...?" a price. Any other question: True. (A true
    sentence about the Cargo K1's 700 Wh battery answers "how much is its
    replacement battery?" no more than silence, and "the first year is free" does
    not answer "how many bikes did you sell?".)"""
    asks = next(filter(None, map(_amount_asked, asking(question))), None)
    if not asks:
        return True
    if asks == "many":
        return bool(_states_a_number(text) or _COUNT_WORDS.search(text) or _counts_one(text, question))
    if asks == "price":
        return bool(_PRICE.search(text) or _AMOUNT_WORDS.search(_included_about(text, question)))
    return bool(facts(text) or _number_words(text) or _AMOUNT_WORDS.search(_included_about(text, question)))


def _included_about(text: str, question: str) -> str:
    """``text`` less each "included" of "with X included" where X is not what ``question`` asks
    about (its other words kept: "with free installation included" still says free)."""
    if not _WITH_INCLUDED.search(text):
        return text  # most units: no "with ... included", so the question's terms are not needed
    asked = question_terms(question)

    def keep(match: re.Match) -> str:
        return match.group(0) if set(terms(match.group(1))) & asked else f"with {match.group(1)}"
    return _WITH_INCLUDED.sub(keep, text)


def _number_words(text: str) -> set[str]:
    """Its number words but "one" ("one of our models", "under one roof" count nothing)."""
    return set(_WORDS.findall(text.lower())) & _NUMBER_WORDS.keys() - {"one"}


def _states_a_number(text: str) -> bool:
    """A figure that is no e-mail address, phone number or price, or a number word: a count or a time."""
    return bool(_NUMBER.search(_MONEY.sub(" ", PHONE.sub(" ", EMAIL.sub(" ", text)))) or _number_words(text))


def _counts_one(text: str, question: str) -> bool:
    """"One" followed by what the question counts ("you get one free tune-up" to "how many
    free tune-ups?"), not "one" as in "under one roof" or "one of our models"."""
    asked = set(terms(question)) - set(terms(" ".join(names(question))))  # "one fold away" counts no Fold F1
    words = _WORDS.findall(text.lower())
    return any(w == "one" and asked & set(terms(" ".join(words[i + 1:i + 3]))) for i, w in enumerate(words))


def apply_policy(policy: str, answer: str, attribution: Attribution, evidence: Sequence, *,
                 no_answer: str, refused: bool, question: str = "", min_coverage: float = 0.0,
                 min_similarity: float = WORDS_ONLY, reads: Callable[[str], bool] | None = None,
                 confirms: Callable[[str], bool] | None = None,
                 meaning: Callable[[], Closeness] | None = None, greeting: str = "", sign_off: str = "") -> Verdict:
    """What ships for one generated answer.

    ``off``: the answer as written. ``annotate``: server markers, and
    ``[unverified]`` after unsupported factual sentences. ``strict``: the
    marked answer if it states at least one fact, every factual sentence is
    supported, it is not stuck in a loop (``repeats_itself``), it states what is asked
    (``states_asked``: an amount to "how much/many" or "what do you charge", a time to
    "when", a duration to "how long"), it is not off the point (``_off_the_point``), and it covers
    as much of ``question`` as the extract would (a true, supported sentence
    about the battery warranty is no answer to "how do I make a claim?");
    else a quoted extract of the best evidence; else (no evidence
    covers ``min_coverage`` of ``question`` or is ``min_similarity`` close to it) the
    profile's no-answer text.
    A question only the reader let in (``reads``: words and meaning fell short) gets
    the quote the reader says answers it, before the model's answer: the reader read
    the customer's words and the document's, the generating model (SmolLM2-135M by
    default) understands a paraphrase no better than the embedder did, and its
    answer passes the checks above with a true figure from the wrong row
    ("£5.99 per serving" to "six of us at home: what per plate?").
    A question the words let in whose answer fails and whose words' quote says too
    little of it gets that quote when the reader confirms it (``confirms``), read only
    then: "a normal eye check" shares "check" with the contact lens check-up's row, the
    row the question's name means is the standard eye test's (``_named_rows``), and that
    row is read and ships.
    A model that says the documents do not cover it (``refused``) gets the extract
    too when there is one: the evidence gate decides abstention, not the model, which
    refuses answerable questions (Qwen2.5-Coder-1.5B: 12 of 37 in the sample set)."""
    used = attribution.used()
    if policy == "off":
        return Verdict(answer, "shipped", attribution, used)
    if policy == "annotate":
        outcome = "annotated" if attribution.unsupported else "shipped"
        return Verdict(attribution.marked(mark_unsupported=True), outcome, attribution, used)
    checked = (not refused and attribution.factual and not attribution.unsupported
               and states_asked(answer, question) and not repeats_itself(attribution.text)
               and not _off_the_point(attribution.text, used, evidence, question, min_coverage))
    extract = extract_answer(evidence, question=question, min_coverage=min_coverage,
                             min_similarity=min_similarity, reads=reads, confirms=None if checked else confirms,
                             meaning=meaning, greeting=greeting, sign_off=sign_off)
    if reads and extract:
        return Verdict(extract[0], "extract", attribution, extract[1])
    if checked and not (extract and _covers(extract[0], extract[1], evidence, question)
                        > _covers(attribution.text, used, evidence, question)):
        return Verdict(attribution.marked(), "shipped", attribution, used)
    if extract is None:
        return Verdict(no_answer, "refused" if refused else "no_answer", attribution)
    text, used = extract
    return Verdict(text, "extract", attribution, used)


def _off_the_point(text: str, used: dict[int, dict], evidence: Sequence, question: str, min_coverage: float) -> bool:
    """The evidence covers ``min_coverage`` of the question in its words and the answer does not:
    supported sentences about the complaints procedure are no answer to "which of your sites can
    take a pallet?", which the evidence's pallet sentence answers. A question the evidence says
    less of (a paraphrase the reader or meaning let in) is not held to words; a scene set first
    need not be covered (``phrasings``). A cited passage's heading counts for the answer through
    a sentence sharing a word with the passage other than an address: the model's "Hello from
    Sparrowgatestorage.co.uk!" was backed by the pallet passage's e-mail address alone."""
    asked = phrasings(question) if question else []
    if not asked or max(coverage(evidence, q) for q in asked) < min_coverage:
        return False

    def words(said: str) -> set[str]:
        return set(terms(_ADDRESS.sub(" ", said)))

    def said_there(n: int, sentences: list[str]) -> bool:  # a sentence shares a word with passage n
        passage = words(evidence[n - 1].full_text)
        return any(words(s) & passage for s in sentences)
    about = {n: entry for n, entry in used.items() if n <= len(evidence) and said_there(n, entry["sentences"])}
    return max(_covers(text, about, evidence, q) for q in asked) < min_coverage


def _covers(text: str, used: dict[int, dict], evidence: Sequence, question: str) -> float:
    return text_coverage(text, evidence, question, cited=[evidence[n - 1] for n in used if n <= len(evidence)])
