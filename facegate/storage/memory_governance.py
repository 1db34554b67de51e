"""Governance in the memory store (``MemoryStore``): expiry queries, the retention job's claim
and lock (one process is every replica there is), and the outbox events an erasure removes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from facegate.domain import Identity
from facegate.storage.events import LocalSinkLocks, MemoryEvents
from facegate.storage.identity_links import names_in


class MemoryRetention(MemoryEvents):
    _identities: dict[str, Identity]
    _lock: threading.RLock

    def __init__(self) -> None:
        MemoryEvents.__init__(self)
        self._runs: dict[str, float] = {}
        self._retention_locks = LocalSinkLocks()

    def expired_identities(self, before: datetime, *, limit: int = 1000) -> list[str]:
        with self._lock:
            due = sorted((i.expires_at, i.id) for i in self._identities.values()
                         if i.expires_at is not None and i.expires_at < before)
        return [identity_id for _, identity_id in due[:limit]]

    def purgeable_events(self, *, before: float, sinks: Sequence[str]) -> int:
        with self._events_lock:
            waiting = {seq for (name, seq), d in self._deliveries.items()
                       if name in sinks and d.status == "pending"}
            return sum(1 for seq, e in self._outbox.items()
                       if e.time < before and seq not in waiting)

    def claim_retention(self, name: str, *, now: float, every_s: float) -> bool:
        with self._lock:
            if self._runs.get(name, 0.0) > now - every_s:
                return False
            self._runs[name] = now
            return True

    def retention_lock(self) -> AbstractContextManager[bool]:
        return self._retention_locks.hold("retention")

    def after_erasure(self) -> None:
        return None  # nothing outlives the process

    def _erase_links(self, identity_id: str, chips: int) -> dict[str, int]:
        """The receipt's counts of what goes with the person besides their faces: the outbox
        events naming them (the store adds feedback's and the review queue's own counts)."""
        with self._events_lock:
            gone = {seq for seq, event in self._outbox.items() if names_in(event.data,
                                                                            identity_id)}
            for seq in gone:
                del self._outbox[seq]
            self._deliveries = {k: d for k, d in self._deliveries.items() if k[1] not in gone}
        return {"chips": chips, "outbox_events": len(gone)}
