"""Retrieval recall@k: does search find a question's source document?

Used by the index benchmark, its test and `tenor eval`. A question counts as a
hit at k when its source document owns one of the top-k passages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable


@dataclass
class RecallReport:
    questions: int
    recall: dict[int, float]  # k -> share of questions whose source is in the top k
    misses: list[dict] = field(default_factory=list)  # questions missed at the smallest k


def load_questions(path: Path) -> list[dict]:
    """JSONL with at least ``question`` and ``source`` (a document id) per line."""
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        if not item.get("question") or not item.get("source"):
            raise ValueError(f"{path}:{number}: needs 'question' and 'source'")
        items.append(item)
    return items


def ranked_documents(passages: Iterable) -> list[str]:
    """Document ids in the order their best passage ranks, each once (passages
    are objects with ``document_id`` or dicts with that key)."""
    return list(dict.fromkeys(p["document_id"] if isinstance(p, dict) else p.document_id
                              for p in passages))


def retrieval_recall(search: Callable[[dict, int], list], questions: list[dict],
                     ks: tuple[int, ...] = (1, 5)) -> RecallReport:
    """``search(item, k)`` returns the passages for one question item, best first
    (the item, not just its text, so a caller can retrieve with its conversation)."""
    hits = {k: 0 for k in ks}
    misses = []
    for item in questions:
        documents = ranked_documents(search(item, max(ks)))
        for k in ks:
            hits[k] += item["source"] in documents[:k]
        if item["source"] not in documents[:min(ks)]:
            misses.append({"question": item["question"], "source": item["source"], "top": documents[:3]})
    n = max(1, len(questions))
    return RecallReport(len(questions), {k: round(hits[k] / n, 3) for k in ks}, misses)
