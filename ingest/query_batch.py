"""Concurrent search queries share one batched ``encode``.

The embedders encode one batch at a time (torch and onnxruntime already use
every core), so under load single-query encodes queue behind each other. Here
the thread that gets the encoder next takes every query waiting at that moment
and encodes them together; the others find their vector ready. One query alone
costs exactly one ``encode([query])``, as before.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable

import numpy as np

MAX_BATCH = 64


class _Slot:
    __slots__ = ("text", "vector", "error", "done")

    def __init__(self, text: str):
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class QueryBatcher:
    def __init__(self, encode: Callable[[list[str]], np.ndarray], max_batch: int = MAX_BATCH):
        self._encode = encode
        self._max_batch = max_batch
        self._pending: list[_Slot] = []
        self._pending_lock = threading.Lock()
        self._encoding = threading.Lock()  # held while a batch is being encoded
        self.batches = 0  # encodes run so far (for tests and metrics)

    def encode(self, text: str) -> np.ndarray:
        slot = _Slot(text)
        with self._pending_lock:
            self._pending.append(slot)
        while not slot.done:
            with self._encoding:
                if slot.done:
                    break
                with self._pending_lock:
                    batch = self._pending[: self._max_batch]
                    del self._pending[: self._max_batch]
                self._run(batch)
        if slot.error is not None:
            raise slot.error
        return slot.vector

    def _run(self, batch: list[_Slot]) -> None:
        try:
            vectors = self._encode([s.text for s in batch])
        except BaseException as exc:  # every waiting query gets the encoder's error
            for s in batch:
                s.error, s.done = exc, True
            return
        finally:
            self.batches += 1
        for s, vector in zip(batch, vectors):
            s.vector, s.done = vector, True


_batchers: "weakref.WeakKeyDictionary[object, QueryBatcher]" = weakref.WeakKeyDictionary()
_batchers_lock = threading.Lock()


def query_batcher(embedder) -> QueryBatcher:
    """The batcher of this embedder (one per embedder, shared by every collection)."""
    with _batchers_lock:
        batcher = _batchers.get(embedder)
        if batcher is None:
            batcher = _batchers[embedder] = QueryBatcher(embedder.encode)
        return batcher
