"""The retention job on PostgreSQL replicas: two stores on one database (two replicas) run
their jobs at the same moment; exactly one does the period's work, erasing every expired person
once (one audit row each), while the other finds the period taken; the advisory lock keeps a
second run out while one works; every erasure is followed by VACUUM of the
erased tables (``pg_stat_user_tables.last_vacuum`` set)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from facegate.bootstrap import build
from facegate.config import Settings
from facegate.services.retention import RetentionJob, retention
from facegate.storage.audit import AuditQuery
from facegate.storage.postgres import PostgresStore
from storage.test_contract import make_sample


def job(store: PostgresStore, name: str) -> RetentionJob:
    """A replica's job, wired as a server wires it (``bootstrap.build`` over that store)."""
    settings = Settings()
    work = retention(settings, build(settings, store=store).gallery, store,
                     actor=("system", None, name))
    return RetentionJob(work, store, every_s=3600)


def test_two_replicas_run_each_period_once(postgres_url: str) -> None:
    a, b = PostgresStore(postgres_url), PostgresStore(postgres_url)
    try:
        past = datetime.now(UTC) - timedelta(hours=1)
        expired = []
        for n in range(6):
            person = a.create_identity(name=f"visitor {n}", expires_at=past)
            a.add_face(make_sample(person.id, n))
            expired.append(person.id)
        staff = b.create_identity(name="staff", expires_at=past + timedelta(days=2))
        reports: dict[str, Any] = {}
        start = threading.Barrier(2)

        def run(name: str, store: PostgresStore) -> None:
            start.wait()
            reports[name] = job(store, name).run_once()

        threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", a), ("b", b))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done = [r for r in reports.values() if r is not None]
        assert len(done) == 1, reports  # one replica did the period's work, the other none
        assert sorted(r["identity_id"] for r in done[0]["identities"]) == sorted(expired)
        assert a.expired_identities(datetime.now(UTC)) == []
        assert b.get_identity(staff.id).name == "staff"
        rows, _ = a.audit_page(AuditQuery(route="retention"), limit=100)
        assert sorted(i for r in rows for i in r.identity_ids) == sorted(expired)
        assert job(a, "a").run_once() is None and job(b, "b").run_once() is None  # this period
        with a.retention_lock() as mine, b.retention_lock() as theirs:
            assert (mine, theirs) == (True, False)
        with b.retention_lock() as theirs:
            assert theirs  # released when the block ended
        vacuumed = a._read("SELECT relname, last_vacuum IS NOT NULL FROM pg_stat_user_tables "
                           "WHERE relname IN ('faces', 'identities', 'events')")
        assert dict(vacuumed) == {"faces": True, "identities": True, "events": True}
    finally:
        a.close()
        b.close()
