"""The lexical side of hybrid retrieval: BM25 over the collection's chunk texts.

Dense embeddings blur exact strings: a part number ("K1"), a price ("$3,899")
or an error code ("E-42") looks much like its neighbours to MiniLM. BM25
matches them literally. The index is built in memory from the texts Chroma
stores (``ingest.index`` reads them and decides when to rebuild), so a server
replica holds no state of its own and a Chroma server deployment keeps working.

Tokens are language-neutral: Unicode-normalized and case-folded runs of
letters and digits, joined across ``-_./:@`` so codes stay whole ("e-42",
"v2.1", "info@shop.example") while their parts and their joined form are indexed
too ("e", "42", "e42"); digit grouping is
dropped ("3,899" -> "3899"); Chinese and Japanese characters are single tokens.
There is no stop-word list: a term found in more than half of the chunks is
ignored in queries, whatever the language, once the collection has enough
chunks for that to mean something.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from tenor.evidence import stem

_GROUPED_DIGITS = re.compile(r"(?<=\d)[,'](?=\d{3}(?!\d))")
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"  # kana and ideographs: no spaces between words
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:[-_./:@][^\W_{_CJK}]+)*")
_JOINERS = re.compile(r"[-_./:@]")
COMMON_SHARE = 0.5  # a query term in more chunks than this share carries no signal
MIN_CHUNKS_FOR_COMMON = 20  # below this, document frequencies are too noisy to drop terms


def tokenize(text: str) -> list[str]:
    """Lexical tokens of ``text``: compounds ("e-42") followed by their parts and joined form."""
    text = _GROUPED_DIGITS.sub("", unicodedata.normalize("NFKC", text).casefold())
    tokens = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        tokens.append(token)
        parts = _JOINERS.split(token)
        if len(parts) > 1:
            tokens.extend(parts)
            tokens.append("".join(parts))  # "e-42" is also written "e42"
    return tokens


class LexicalIndex:
    """BM25 (the ``bm25s`` library) over a fixed list of chunk ids and token lists, and the
    (document id, section heading) pairs of those chunks (``tenor.evidence.on_subject`` reads them)."""

    def __init__(self, ids: list[str], tokens: list[list[str]],
                 headings: frozenset[tuple[str, str]] = frozenset()):
        import bm25s

        self.headings = headings
        self.ids = list(ids)
        self.position = {chunk_id: i for i, chunk_id in enumerate(self.ids)}
        self._bm25 = None
        self._common: set[str] = set()
        frequency: dict[str, int] = {}
        for chunk_tokens in tokens:
            for token in set(chunk_tokens):
                frequency[token] = frequency.get(token, 0) + 1
        self.vocabulary = frozenset(frequency)
        self._stems: frozenset[str] | None = None
        if not self.ids:
            return
        self._bm25 = bm25s.BM25()
        # An empty chunk still needs a row, or the scores would not line up with ids.
        self._bm25.index([t or [""] for t in tokens], show_progress=False)
        if len(self.ids) >= MIN_CHUNKS_FOR_COMMON:
            limit = COMMON_SHARE * len(self.ids)
            self._common = {token for token, n in frequency.items() if n > limit}

    def mentions(self, word: str) -> bool:
        """Whether the chunks hold ``word``, as written or in a form stemming joins ("chargers"
        for "charger"); a compound also as one word or as all its parts ("Wi-Fi": "wifi")."""
        tokens = tokenize(word)
        if not tokens:
            return True
        if self._knows(tokens[0]) or self._knows(tokens[-1]):  # as written; a compound's joined form
            return True
        parts = tokens[1:-1]
        return bool(parts) and all(self._knows(t) for t in parts)

    def _knows(self, token: str) -> bool:
        if token in self.vocabulary:
            return True
        if self._stems is None:  # built on first use: most questions name nothing new
            self._stems = frozenset(stem(t) for t in self.vocabulary)
        return stem(token) in self._stems

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (in ``ids`` order) for ``query``; 0 where no term matches."""
        terms = [t for t in dict.fromkeys(tokenize(query)) if t not in self._common]
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        term_ids = self._bm25.get_tokens_ids(terms)
        if not term_ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(term_ids), dtype=np.float32)

    def top(self, scores: np.ndarray, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best (id, score) pairs with a positive score, best first."""
        if allowed is not None:
            mask = np.fromiter((i in allowed for i in self.ids), dtype=bool, count=len(self.ids))
            scores = np.where(mask, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        ranked = sorted(candidates, key=lambda i: (-scores[i], i))
        return [(self.ids[i], float(scores[i])) for i in ranked]
