"""What belongs to a person besides their identity row and face samples, and how an erasure
takes it along (docs/governance.md).

``IDENTITY_TABLES`` names every other table whose rows belong to one identity (by an
``identity_id`` column) and the erasure receipt's field that counts them. The SQL stores delete
those rows, and every outbox event that names the person, inside the identity's own deletion
transaction (``erase_links``): the person goes whole or not at all. ``ErasedFaces`` is what
``delete_identity`` returns: the deleted face ids (a list, as before) with the receipt's counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from facegate.domain import Consent


@dataclass(frozen=True, slots=True)
class IdentityTable:
    receipt_field: str
    table: str
    column: str = "identity_id"


#: Tables whose rows belong to one person, deleted with them: feedback's negative anchors and
#: kept probes (storage/sql_feedback.py), the review queue's faces named or assigned to them
#: (storage/sql_review.py; their clusters follow by ``ON DELETE CASCADE``).
IDENTITY_TABLES: tuple[IdentityTable, ...] = (
    IdentityTable("negative_anchors", "negative_anchors"),
    IdentityTable("kept_probes", "kept_probes"),
    IdentityTable("review_items", "review_items"),
)

#: The receipt's counts, in its order; a field no table feeds stays 0.
RECEIPT_COUNTS = ("samples", "chips", "negative_anchors", "review_items", "outbox_events",
                  "kept_probes")


class ErasedFaces(list[str]):
    """The face ids an identity's deletion removed, with ``counts``: the receipt's numbers."""

    counts: dict[str, int]

    def __init__(self, face_ids: Iterable[str], counts: dict[str, int]) -> None:
        super().__init__(face_ids)
        self.counts = {field: 0 for field in RECEIPT_COUNTS} | counts
        self.counts["samples"] = len(self)


#: Given an erasure's counts, the audit rows to write in the same transaction.
AuditErasure = Callable[[ErasedFaces], list[Any]]


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...


class _Connection(Protocol):
    def execute(self, sql: str, args: tuple[Any, ...], /) -> _Cursor: ...


def erase_links(db: _Connection, identity_id: str, *, mark: str) -> dict[str, int]:
    """Delete (and count) everything of ``identity_id`` but the identity and its faces, in the
    caller's transaction, before the faces go: chips are counted here, the linked tables' rows
    and the outbox events that name the person (by id, anywhere in their JSON) deleted."""
    counts: dict[str, int] = {}
    chips = db.execute(f"SELECT COUNT(*) FROM faces WHERE identity_id = {mark} AND "
                       "length(chip_jpeg) > 0", (identity_id,)).fetchone()
    counts["chips"] = int(chips[0])
    for link in IDENTITY_TABLES:
        gone = db.execute(f"DELETE FROM {link.table} WHERE {link.column} = {mark}",
                          (identity_id,)).rowcount
        counts[link.receipt_field] = counts.get(link.receipt_field, 0) + max(gone, 0)
    counts["outbox_events"] = max(0, db.execute(
        f"DELETE FROM events WHERE data LIKE {mark} ESCAPE '!'", (names(identity_id),)
    ).rowcount)
    return counts


def names(identity_id: str) -> str:
    """The LIKE pattern of a JSON text holding ``identity_id`` as a string value."""
    quoted = json.dumps(identity_id)
    return "%" + quoted.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def names_in(data: dict[str, Any], identity_id: str) -> bool:
    """Whether an event's JSON data names ``identity_id`` (the memory store's ``names``)."""
    return json.dumps(identity_id) in json.dumps(data)


def consent_json(consent: Consent | None) -> str | None:
    if consent is None:
        return None
    return json.dumps({"given_at": consent.given_at.isoformat(), "purpose": consent.purpose,
                       "reference": consent.reference})


def consent_from(value: str | dict[str, Any] | None) -> Consent | None:
    if value is None:
        return None
    data = json.loads(value) if isinstance(value, str) else value
    return Consent(given_at=datetime.fromisoformat(data["given_at"]), purpose=data["purpose"],
                   reference=data.get("reference"))
