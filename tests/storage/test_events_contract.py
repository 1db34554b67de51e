"""The event outbox part of the GalleryStore contract on every backend of ``conftest.STORE_URLS``,
plus two store objects on one PostgreSQL database (two replicas): one holds a sink's lock."""

from __future__ import annotations

from pathlib import Path

from facegate.storage.base import GalleryStore, new_id, open_store
from facegate.storage.events import Attempt, OutboxEvent
from facegate.storage.sqlite import SCHEMA_VERSION
from storage.conftest import upgraded_from

NOW = 1_790_000_000.5


def event(kind: str = "face.identified", *, time: float = NOW, snapshot: bytes | None = None
          ) -> OutboxEvent:
    return OutboxEvent(id=new_id(), type=kind, time=time, camera="front-door",
                       request_id=new_id(), data={"name": "Zoë", "distance": 0.41,
                                                  "box": {"left": 1, "top": 2}},
                       snapshot=snapshot)


def test_events_come_back_per_sink_in_outbox_order(store: GalleryStore) -> None:
    first, second, third = event(snapshot=b"\xff\xd8jpeg"), event("face.unknown"), event()
    store.add_events([(first, ["mqtt", "webhook:1"]), (second, ["mqtt"])], now=NOW)
    store.add_events([(third, ["webhook:1"])], now=NOW)
    mqtt = store.pending_deliveries("mqtt", limit=10)
    assert [d.event.id for d in mqtt] == [first.id, second.id]
    got = mqtt[0].event
    assert (got.type, got.time, got.camera, got.request_id, got.data, got.snapshot) == (
        first.type, first.time, first.camera, first.request_id, first.data, first.snapshot)
    assert mqtt[0].status == "pending" and mqtt[0].attempts == 0
    assert mqtt[0].event.seq < mqtt[1].event.seq
    assert [d.event.id for d in store.pending_deliveries("webhook:1", limit=10)] == [
        first.id, third.id]
    assert [d.event.id for d in store.pending_deliveries("mqtt", limit=1)] == [first.id]
    assert store.outbox_backlog(["mqtt", "webhook:1"]) == 3
    assert store.outbox_backlog(["mqtt"]) == 2


def test_attempts_are_recorded_and_delivered_rows_leave_the_queue(store: GalleryStore) -> None:
    one, two = event(), event()
    store.add_events([(one, ["webhook:1"]), (two, ["webhook:1"])], now=NOW)
    head = store.pending_deliveries("webhook:1", limit=5)[0]
    store.record_attempts("webhook:1", [Attempt(head.event.seq, NOW + 1, False, "HTTP 503",
                                                NOW + 3)])
    failed = store.pending_deliveries("webhook:1", limit=5)[0]
    assert (failed.event.id, failed.attempts, failed.next_attempt_at, failed.last_result,
            failed.last_attempt_at) == (one.id, 1, NOW + 3, "HTTP 503", NOW + 1)
    store.record_attempts("webhook:1", [
        Attempt(head.event.seq, NOW + 3, True, "HTTP 200", NOW + 3),
        Attempt(head.event.seq, NOW + 4, False, "late", NOW + 9)])  # delivered stays delivered
    assert [d.event.id for d in store.pending_deliveries("webhook:1", limit=5)] == [two.id]
    log, total = store.deliveries(sink="webhook:1")
    assert total == 2 and [d.event.id for d in log] == [two.id, one.id]
    assert (log[1].status, log[1].attempts, log[1].delivered_at, log[1].last_result) == (
        "delivered", 2, NOW + 3, "HTTP 200")
    assert store.outbox_backlog(["webhook:1"]) == 1


def test_the_delivery_log_filters_and_pages(store: GalleryStore) -> None:
    events = [event() for _ in range(5)]
    store.add_events([(e, ["a", "b"]) for e in events], now=NOW)
    rows = store.pending_deliveries("a", limit=5)
    store.record_attempts("a", [Attempt(rows[0].event.seq, NOW, True, "ok", NOW),
                                Attempt(rows[1].event.seq, NOW, False, "down", NOW + 1)])
    assert store.deliveries()[1] == 10
    assert store.deliveries(status="delivered")[1] == 1
    assert [d.event.id for d in store.deliveries(status="failed")[0]] == [events[1].id]
    assert store.deliveries(sink="a", status="pending")[1] == 4
    page, total = store.deliveries(sink="b", limit=2, offset=2)
    assert total == 5 and [d.event.id for d in page] == [events[2].id, events[1].id]


def test_purging_drops_old_events_nobody_waits_for(store: GalleryStore) -> None:
    old_done, old_waiting, new_done = event(time=NOW - 100), event(time=NOW - 100), event()
    store.add_events([(old_done, ["a"]), (old_waiting, ["a"]), (new_done, ["a"])], now=NOW)
    for row in store.pending_deliveries("a", limit=5):
        if row.event.id != old_waiting.id:
            store.record_attempts("a", [Attempt(row.event.seq, NOW, True, "ok", NOW)])
    assert store.purge_events(before=NOW - 10, sinks=["a"]) == 1
    assert {d.event.id for d in store.deliveries()[0]} == {old_waiting.id, new_done.id}
    # a sink no longer configured holds nothing back
    assert store.purge_events(before=NOW - 10, sinks=["b"]) == 1
    assert [d.event.id for d in store.deliveries()[0]] == [new_done.id]


def test_a_sink_lock_is_held_by_one_caller_at_a_time(store: GalleryStore) -> None:
    with store.sink_lock("mqtt") as mine:
        assert mine is True
        with store.sink_lock("mqtt") as again, store.sink_lock("webhook:1") as other:
            assert (again, other) == (False, True)
    with store.sink_lock("mqtt") as mine:
        assert mine is True


def test_two_replicas_on_postgres_share_one_outbox_and_one_lock(postgres_url: str) -> None:
    a, b = open_store(postgres_url), open_store(postgres_url)
    try:
        first, second = event(), event()
        a.add_events([(first, ["mqtt"])], now=NOW)
        b.add_events([(second, ["mqtt"])], now=NOW)
        assert [d.event.id for d in b.pending_deliveries("mqtt", limit=5)] == [first.id,
                                                                               second.id]
        with a.sink_lock("mqtt") as mine_a, b.sink_lock("mqtt") as mine_b:
            assert (mine_a, mine_b) == (True, False)
        with b.sink_lock("mqtt") as mine_b:
            assert mine_b is True
    finally:
        a.close()
        b.close()


def test_an_older_sqlite_gallery_gains_the_outbox(tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 6
    with upgraded_from(tmp_path / "old.db", 5) as store:
        store.add_events([(event(), ["a"])], now=NOW)
        assert store.outbox_backlog(["a"]) == 1
