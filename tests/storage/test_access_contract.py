"""The users, sessions and API keys part of the store contract, on every backend of
``conftest.STORE_URLS`` (PostgreSQL: a fresh database per test), plus SQLite's upgrade of an
older gallery file."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facegate.errors import ConflictError, KeyNotFoundError, UserNotFoundError
from facegate.storage.access_records import KeyRecord, SessionRecord, UserRecord
from facegate.storage.base import GalleryStore, new_id
from facegate.storage.sqlite import SCHEMA_VERSION, SQLiteStore

WHEN = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)


def user(name: str = "alice", *, when: datetime = WHEN) -> UserRecord:
    return UserRecord(id=new_id(), username=name, password_hash="$argon2id$v=19$x",
                      role="operator", disabled=False, created_at=when, updated_at=when)


def key(name: str = "door-cam", *, prefix: str = "abcd1234", when: datetime = WHEN) -> KeyRecord:
    return KeyRecord(id=new_id(), name=name, prefix=prefix, secret_hash=new_id() + new_id(),
                     scopes=("recognize", "enrol"), created_at=when,
                     expires_at=when + timedelta(days=90), revoked_at=None, last_used_at=None,
                     created_by="bootstrap-1")


def session(owner: UserRecord, *, when: datetime = WHEN, hours: float = 12) -> SessionRecord:
    return SessionRecord(token_hash=new_id() + new_id(), user_id=owner.id, csrf_token=new_id(),
                         created_at=when, expires_at=when + timedelta(hours=hours),
                         last_seen_at=when)


def test_users_round_trip_and_names_are_unique(store: GalleryStore) -> None:
    alice, bob = user("alice"), user("Bob", when=WHEN + timedelta(seconds=1))
    store.create_user(bob)
    store.create_user(alice)
    assert store.get_user(alice.id) == alice and store.user_by_name("Bob") == bob
    assert store.get_user(alice.id).created_at.microsecond == 123456
    assert store.user_by_name("bob") is None  # names are case-sensitive
    assert [u.username for u in store.list_users()] == ["alice", "Bob"]  # oldest first
    with pytest.raises(ConflictError):
        store.create_user(user("alice"))
    assert len(store.list_users()) == 2  # nothing half-made
    changed = dataclasses.replace(alice, role="viewer", disabled=True, password_hash="h2",
                                  updated_at=WHEN + timedelta(days=1))
    store.update_user(changed)
    assert store.get_user(alice.id) == changed
    with pytest.raises(UserNotFoundError):
        store.update_user(user("nobody"))
    with pytest.raises(UserNotFoundError):
        store.get_user("missing")


def test_sessions_end_with_their_user_and_expired_ones_are_dropped(store: GalleryStore) -> None:
    alice, bob = user("alice"), user("bob")
    store.create_user(alice)
    store.create_user(bob)
    old = session(alice, when=WHEN - timedelta(days=2))
    store.create_session(old)
    first, second, other = session(alice), session(alice), session(bob)
    for made in (first, second, other):
        store.create_session(made)
    assert store.get_session(old.token_hash) is None  # expired before ``first`` was made
    assert store.get_session(first.token_hash) == first
    later = WHEN + timedelta(minutes=5)
    store.touch_session(first.token_hash, later)
    assert store.get_session(first.token_hash) == dataclasses.replace(first, last_seen_at=later)
    store.delete_session(second.token_hash)
    assert store.get_session(second.token_hash) is None
    assert store.delete_user_sessions(alice.id) == 1
    assert store.get_session(first.token_hash) is None
    store.delete_user(bob.id)
    assert store.get_session(other.token_hash) is None
    with pytest.raises(UserNotFoundError):
        store.delete_user(bob.id)


def test_keys_round_trip_revoke_and_touch(store: GalleryStore) -> None:
    door = key()
    store.create_key(door)
    assert store.get_key(door.id) == door and store.key_by_hash(door.secret_hash) == door
    assert store.key_by_hash("0" * 64) is None
    with pytest.raises(ConflictError):
        store.create_key(key("other", prefix=door.prefix))
    later = key("later", prefix="zzzz9999", when=WHEN + timedelta(hours=1))
    store.create_key(dataclasses.replace(later, expires_at=None))
    assert [k.name for k in store.list_keys()] == ["door-cam", "later"]
    used = WHEN + timedelta(minutes=1)
    store.touch_key(door.id, used)
    assert store.get_key(door.id).last_used_at == used
    revoked = store.revoke_key(door.id, WHEN + timedelta(minutes=2))
    assert revoked.revoked_at == WHEN + timedelta(minutes=2)
    again = store.revoke_key(door.id, WHEN + timedelta(days=9))
    assert again.revoked_at == revoked.revoked_at  # the first revocation's time stays
    assert store.get_key(later.id).expires_at is None
    with pytest.raises(KeyNotFoundError):
        store.revoke_key("missing", WHEN)
    with pytest.raises(KeyNotFoundError):
        store.get_key("missing")


def test_a_version_2_sqlite_gallery_gains_the_access_tables(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        for table in ("users", "login_sessions", "api_keys"):
            db.execute(f"DROP TABLE {table}")
        db.execute("PRAGMA user_version = 2")
        db.commit()
    reopened = SQLiteStore(path)
    try:
        alice = user()
        reopened.create_user(alice)
        assert reopened.list_users() == [alice]
    finally:
        reopened.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
