"""The audit writer: a full queue drops and counts rows, a store that refuses them is retried
and then counted, and a flush commits everything queued before it."""

from __future__ import annotations

import uuid
from pathlib import Path

from facegate.services.audit import AuditWriter, command_record
from facegate.storage.audit import AuditQuery
from facegate.storage.memory import MemoryStore
from facegate.storage.sqlite import SQLiteStore


def test_a_full_queue_drops_and_counts_then_the_rest_is_written() -> None:
    store = MemoryStore()
    writer = AuditWriter(store, queue_rows=2, full_wait_s=0.01)  # not started: nothing drains
    rows = [command_record("export", n=n) for n in range(4)]
    assert writer.offer(rows[0]) and writer.offer(rows[1])
    assert not writer.offer(rows[2])
    assert not writer.submit(rows[3]) and writer.dropped == 1
    writer.start()
    assert writer.flush()
    written, _ = store.audit_page(AuditQuery())
    assert {r.id for r in written} == {rows[0].id, rows[1].id} and writer.written == 2
    writer.close()


def test_rows_the_store_refuses_are_retried_then_counted(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    store.close()  # every write now fails
    writer = AuditWriter(store)
    writer.start()
    writer.offer(command_record("import", failed="ARCHIVE_INVALID"))
    assert writer.flush(timeout_s=20)
    assert writer.dropped == 1 and writer.written == 0
    writer.close()


def test_close_commits_what_is_queued() -> None:
    store = MemoryStore()
    writer = AuditWriter(store, flush_s=60, batch_rows=10_000)
    writer.start()
    ids = set()
    for _ in range(50):
        record = command_record("export", marker=uuid.uuid4().hex)
        ids.add(record.id)
        assert writer.offer(record)
    writer.close()
    assert {r.id for r in store.audit_page(AuditQuery())[0]} == ids
