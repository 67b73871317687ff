"""The shared record of scheduled syncs: who runs a source now, and how its last run went.

It lives in Chroma (collection ``tenor-sync-state``, one record per source), so
replicas that share a Chroma server share one schedule and one status, and no
replica needs a local lock or disk. Chroma has no compare-and-set, so a lease
is taken in two steps: write our holder id when no other holder's lease is
still running, wait ``settle_s``, and read it back. Of replicas that raced,
only the last writer reads itself back and runs; this holds as long as a write
lands within ``settle_s`` (milliseconds on a healthy server, against 1 s).
"""

from __future__ import annotations

import json
import time

from ingest.index import client_for

COLLECTION = "tenor-sync-state"


class SyncState:
    def __init__(self, settings, settle_s: float = 1.0):
        self.settings = settings
        self.settle_s = settle_s
        self._collection = None

    @property
    def collection(self):
        if self._collection is None:
            self._collection = client_for(self.settings).get_or_create_collection(
                COLLECTION, embedding_function=None, metadata={"tenor": "sync schedule and leases"})
        return self._collection

    def get(self, name: str) -> dict:
        found = self.collection.get(ids=[name], include=["documents"])
        return json.loads(found["documents"][0]) if found["ids"] else {}

    def all(self) -> dict[str, dict]:
        found = self.collection.get(include=["documents"])
        return {i: json.loads(d) for i, d in zip(found["ids"], found["documents"])}

    def _put(self, name: str, record: dict) -> None:
        self.collection.upsert(ids=[name], embeddings=[[0.0]], documents=[json.dumps(record)])

    def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take the lease on ``name`` for ``ttl_s`` seconds, unless another holder has it."""
        record = self.get(name)
        now = time.time()
        if record.get("holder") not in (None, holder) and record.get("expires", 0) > now:
            return False
        self._put(name, {**record, "holder": holder, "expires": now + ttl_s, "last_started": now})
        time.sleep(self.settle_s)
        return self.get(name).get("holder") == holder

    def finish(self, name: str, holder: str, summary: dict | None, error: str | None) -> None:
        """Record the run's outcome and release the lease."""
        record = self.get(name)
        if record.get("holder") != holder:
            return  # the lease expired and another replica took it: its record wins
        self._put(name, {**record, "holder": None, "expires": 0, "last_finished": time.time(),
                         "last_summary": summary, "last_error": error})
