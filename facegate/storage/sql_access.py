"""Users, login sessions and API keys in an SQL gallery: the ``AccessStore`` part that SQLite
and PostgreSQL share, a mixin over the host store's ``_write()``/``_read()`` like
``sql_classifiers.SqlClassifiers`` (whose ``_MARK`` and ``_TEXT_TIMES`` it reads).

Tables: ``users`` (unique ``username``), ``login_sessions`` (keyed by the token's SHA-256,
cascading from the user) and ``api_keys`` (unique ``prefix`` and ``secret_hash``). Flags are
0/1 integers and scopes space-separated text on both databases.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from facegate.errors import ConflictError, KeyNotFoundError, UserNotFoundError
from facegate.storage.access_records import KeyRecord, SessionRecord, UserRecord
from facegate.storage.sql_classifiers import _Connection

#: The three tables; ``{time}`` is TEXT (SQLite) or TIMESTAMPTZ (PostgreSQL).
TABLES = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at {time} NOT NULL,
    updated_at {time} NOT NULL
);
CREATE TABLE IF NOT EXISTS login_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at {time} NOT NULL,
    expires_at {time} NOT NULL,
    last_seen_at {time} NOT NULL
);
CREATE INDEX IF NOT EXISTS login_sessions_user ON login_sessions (user_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at {time} NOT NULL,
    expires_at {time},
    revoked_at {time},
    last_used_at {time},
    created_by TEXT
);
"""
SQLITE_TABLES = TABLES.format(time="TEXT")
POSTGRES_TABLES = TABLES.format(time="TIMESTAMPTZ")

_USER = "id, username, password_hash, role, disabled, created_at, updated_at"
_SESSION = "token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at"
_KEY = ("id, name, prefix, secret_hash, scopes, created_at, expires_at, revoked_at, "
        "last_used_at, created_by")


class SqlAccess:
    _MARK: str = "?"
    _TEXT_TIMES: bool = True

    def _write(self) -> AbstractContextManager[_Connection]:
        raise NotImplementedError

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._MARK)

    def _t(self, when: datetime | None) -> Any:
        if when is None or not self._TEXT_TIMES:
            return when
        return when.astimezone(UTC).isoformat(timespec="microseconds")

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self._read(self._q(sql), args)
        return rows[0] if rows else None

    # users
    def create_user(self, user: UserRecord) -> None:
        with self._write() as db:
            if db.execute(self._q("SELECT 1 FROM users WHERE username = ? OR id = ?"),
                          (user.username, user.id)).fetchone() is not None:
                raise ConflictError(f"a user named {user.username!r} exists already")
            db.execute(self._q(f"INSERT INTO users ({_USER}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                       (user.id, user.username, user.password_hash, user.role,
                        int(user.disabled), self._t(user.created_at), self._t(user.updated_at)))

    def get_user(self, user_id: str) -> UserRecord:
        row = self._one(f"SELECT {_USER} FROM users WHERE id = ?", (user_id,))
        if row is None:
            raise UserNotFoundError(f"no user with id {user_id!r}")
        return _user(row)

    def user_by_name(self, username: str) -> UserRecord | None:
        row = self._one(f"SELECT {_USER} FROM users WHERE username = ?", (username,))
        return None if row is None else _user(row)

    def list_users(self) -> list[UserRecord]:
        return [_user(r) for r in self._read(f"SELECT {_USER} FROM users ORDER BY created_at, id")]

    def update_user(self, user: UserRecord) -> None:
        with self._write() as db:
            changed = db.execute(self._q(
                "UPDATE users SET password_hash = ?, role = ?, disabled = ?, updated_at = ? "
                "WHERE id = ?"), (user.password_hash, user.role, int(user.disabled),
                                  self._t(user.updated_at), user.id)).rowcount
            if not changed:
                raise UserNotFoundError(f"no user with id {user.id!r}")

    def delete_user(self, user_id: str) -> None:
        with self._write() as db:
            db.execute(self._q("DELETE FROM login_sessions WHERE user_id = ?"), (user_id,))
            if not db.execute(self._q("DELETE FROM users WHERE id = ?"), (user_id,)).rowcount:
                raise UserNotFoundError(f"no user with id {user_id!r}")

    # login sessions
    def create_session(self, session: SessionRecord) -> None:
        with self._write() as db:
            db.execute(self._q("DELETE FROM login_sessions WHERE expires_at < ?"),
                       (self._t(session.created_at),))
            db.execute(self._q(f"INSERT INTO login_sessions ({_SESSION}) "
                               "VALUES (?, ?, ?, ?, ?, ?)"),
                       (session.token_hash, session.user_id, session.csrf_token,
                        self._t(session.created_at), self._t(session.expires_at),
                        self._t(session.last_seen_at)))

    def get_session(self, token_hash: str) -> SessionRecord | None:
        row = self._one(f"SELECT {_SESSION} FROM login_sessions WHERE token_hash = ?",
                        (token_hash,))
        if row is None:
            return None
        return SessionRecord(row[0], row[1], row[2], *(_time(v) for v in row[3:6]))

    def touch_session(self, token_hash: str, when: datetime) -> None:
        with self._write() as db:
            db.execute(self._q("UPDATE login_sessions SET last_seen_at = ? WHERE token_hash = ?"),
                       (self._t(when), token_hash))

    def delete_session(self, token_hash: str) -> None:
        with self._write() as db:
            db.execute(self._q("DELETE FROM login_sessions WHERE token_hash = ?"), (token_hash,))

    def delete_user_sessions(self, user_id: str) -> int:
        with self._write() as db:
            return db.execute(self._q("DELETE FROM login_sessions WHERE user_id = ?"),
                              (user_id,)).rowcount

    # API keys
    def create_key(self, key: KeyRecord) -> None:
        with self._write() as db:
            if db.execute(self._q("SELECT 1 FROM api_keys WHERE prefix = ? OR id = ?"),
                          (key.prefix, key.id)).fetchone() is not None:
                raise ConflictError("an API key with that id or prefix exists already")
            db.execute(self._q(f"INSERT INTO api_keys ({_KEY}) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                       (key.id, key.name, key.prefix, key.secret_hash, " ".join(key.scopes),
                        self._t(key.created_at), self._t(key.expires_at),
                        self._t(key.revoked_at), self._t(key.last_used_at), key.created_by))

    def get_key(self, key_id: str) -> KeyRecord:
        row = self._one(f"SELECT {_KEY} FROM api_keys WHERE id = ?", (key_id,))
        if row is None:
            raise KeyNotFoundError(f"no API key with id {key_id!r}")
        return _key(row)

    def key_by_hash(self, secret_hash: str) -> KeyRecord | None:
        row = self._one(f"SELECT {_KEY} FROM api_keys WHERE secret_hash = ?", (secret_hash,))
        return None if row is None else _key(row)

    def list_keys(self) -> list[KeyRecord]:
        return [_key(r) for r in self._read(f"SELECT {_KEY} FROM api_keys ORDER BY created_at, id")]

    def revoke_key(self, key_id: str, when: datetime) -> KeyRecord:
        with self._write() as db:
            db.execute(self._q("UPDATE api_keys SET revoked_at = ? "
                               "WHERE id = ? AND revoked_at IS NULL"), (self._t(when), key_id))
        return self.get_key(key_id)

    def touch_key(self, key_id: str, when: datetime) -> None:
        with self._write() as db:
            db.execute(self._q("UPDATE api_keys SET last_used_at = ? WHERE id = ?"),
                       (self._t(when), key_id))


def _time(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    return datetime.fromisoformat(value).astimezone(UTC)


def _user(row: tuple[Any, ...]) -> UserRecord:
    return UserRecord(id=row[0], username=row[1], password_hash=row[2], role=row[3],
                      disabled=bool(row[4]), created_at=_time(row[5]), updated_at=_time(row[6]))


def _key(row: tuple[Any, ...]) -> KeyRecord:
    return KeyRecord(id=row[0], name=row[1], prefix=row[2], secret_hash=row[3],
                     scopes=tuple(row[4].split()), created_at=_time(row[5]),
                     expires_at=_time(row[6]), revoked_at=_time(row[7]),
                     last_used_at=_time(row[8]), created_by=row[9])
