"""Governance in every store (memory, SQLite, PostgreSQL): consent and expiry are kept and
changed like the other fields, the expired are found, deleting a person deletes the outbox
events that name them in the same transaction and counts what went, and the retention job's
claim lets one caller run per period. PostgreSQL's own part (two replicas racing for a period,
the advisory lock, VACUUM after an erasure) is in test_retention_pg.py."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from facegate.domain import Consent
from facegate.errors import ValidationError
from facegate.storage.base import GalleryStore, new_id
from facegate.storage.events import OutboxEvent
from storage.test_contract import make_sample

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONSENT = Consent(given_at=datetime(2026, 11, 30, 9, 15, 0, 250000, tzinfo=UTC),
                  purpose="door access, building B", reference="form 2026-117")


def outbox_event(data: dict[str, object], time: float = 1000.0) -> OutboxEvent:
    return OutboxEvent(id=new_id(), type="face.identified", time=time, camera="door",
                       request_id=new_id(), data=data, snapshot=b"\xff\xd8probe")


def test_consent_and_expiry_are_stored_changed_and_cleared(store: GalleryStore) -> None:
    later = NOW + timedelta(days=30)
    plus2 = timezone(timedelta(hours=2))
    made = store.create_identity(name="Zoë", consent=CONSENT,
                                 expires_at=later.astimezone(plus2))
    got = store.get_identity(made.id)
    assert got.consent == CONSENT and got.expires_at == later
    assert got.expires_at is not None and got.expires_at.utcoffset() == timedelta(0)
    assert store.list_identities()[0][0].consent == CONSENT
    changed = store.update_identity(made.id, name="Zoe", expires_at=None)
    assert (changed.name, changed.consent, changed.expires_at) == ("Zoe", CONSENT, None)
    other = Consent(given_at=NOW, purpose="visitor badge")
    assert store.update_identity(made.id, consent=other).consent == other
    assert store.update_identity(made.id, consent=None).consent is None
    plain = store.create_identity(name="no terms")
    assert (plain.consent, store.get_identity(plain.id).expires_at) == (None, None)
    with pytest.raises(ValidationError):
        store.create_identity(name="x", consent=Consent(given_at=NOW, purpose="  "))


def test_the_expired_are_found_soonest_first(store: GalleryStore) -> None:
    ids = {}
    for name, days in (("b", -2), ("a", -5), ("later", 3), ("never", None)):
        ids[name] = store.create_identity(
            name=name, expires_at=None if days is None else NOW + timedelta(days=days)).id
    assert store.expired_identities(NOW) == [ids["a"], ids["b"]]
    assert store.expired_identities(NOW, limit=1) == [ids["a"]]
    assert store.expired_identities(NOW + timedelta(days=4)) == [ids["a"], ids["b"],
                                                                 ids["later"]]


def test_deleting_a_person_removes_the_events_naming_them_and_counts_it(
        store: GalleryStore) -> None:
    person = store.create_identity(name="Zoë")
    other = store.create_identity(name="Ann")
    for seed in (1, 2):
        store.add_face(make_sample(person.id, seed))
    store.add_face(make_sample(other.id, 3))
    store.add_events([
        (outbox_event({"identity_id": person.id, "name": "Zoë"}), ["webhook:1"]),
        (outbox_event({"faces": [{"identity": {"id": person.id}}, {"identity": None}]}),
         ["webhook:1"]),
        (outbox_event({"identity_id": other.id, "name": "Ann"}), ["webhook:1"]),
        (outbox_event({"note": person.id[:-1] + "_"}), []),  # no LIKE wildcard matches
    ], now=1000.0)
    erased = store.delete_identity(person.id)
    assert isinstance(erased, list) and len(erased) == 2
    assert erased.counts == {"samples": 2, "chips": 2, "negative_anchors": 0,
                             "review_items": 0, "outbox_events": 2, "kept_probes": 0}
    left, total = store.deliveries(limit=10)
    assert total == 1 and left[0].event.data == {"identity_id": other.id, "name": "Ann"}
    assert store.purgeable_events(before=2000.0, sinks=["webhook:1"]) == 1  # the undelivered
    assert store.purgeable_events(before=2000.0, sinks=[]) == 2


def test_one_claim_per_period(store: GalleryStore) -> None:
    assert store.claim_retention("retention", now=5000.0, every_s=100.0)
    assert not store.claim_retention("retention", now=5050.0, every_s=100.0)
    assert store.claim_retention("other job", now=5050.0, every_s=100.0)
    wins = []

    def claim() -> None:
        wins.append(store.claim_retention("retention", now=5200.0, every_s=100.0))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False, False, False, True]
    with store.retention_lock() as mine:
        assert mine
    store.after_erasure()
