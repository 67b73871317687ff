"""PII redaction before anything is written to the conversation log. Pure Python.

E-mail addresses, phone numbers and payment-card numbers (Luhn-checked, so an
order total or a part number is left alone) are always replaced; order numbers
and anything else by the patterns a deployment configures
(``conversations.redact_patterns``: label -> regular expression).
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# A phone number: an optional +country code, then 7+ digits in groups (spaces, dots, dashes, brackets).
PHONE = re.compile(r"(?<![\w$])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){2,4}(?![\w%])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _phone(match: re.Match) -> str:
    text = match.group()
    if ISO_DATE.fullmatch(text.strip()) or len(re.sub(r"\D", "", text)) < 7:
        return text
    return "[phone]"


class Redactor:
    def __init__(self, patterns: dict[str, str] | None = None):
        self.custom = [(label, re.compile(p)) for label, p in (patterns or {}).items()]

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        text = EMAIL.sub("[email]", text)
        for label, pattern in self.custom:
            text = pattern.sub(f"[{label}]", text)
        text = CARD.sub(_card, text)
        return PHONE.sub(_phone, text)
