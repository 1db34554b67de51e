"""Users, login sessions and API keys for ``MemoryStore``: the ``AccessStore`` contract in
dictionaries, under the host store's lock."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from facegate.errors import ConflictError, KeyNotFoundError, UserNotFoundError
from facegate.storage.access_records import KeyRecord, SessionRecord, UserRecord


class MemoryAccess:
    _lock: threading.RLock

    def _access_tables(self) -> None:
        self._users: dict[str, UserRecord] = {}
        self._login_sessions: dict[str, SessionRecord] = {}
        self._keys: dict[str, KeyRecord] = {}

    # users
    def create_user(self, user: UserRecord) -> None:
        with self._lock:
            if user.id in self._users or self.user_by_name(user.username) is not None:
                raise ConflictError(f"a user named {user.username!r} exists already")
            self._users[user.id] = user

    def get_user(self, user_id: str) -> UserRecord:
        with self._lock:
            if user_id not in self._users:
                raise UserNotFoundError(f"no user with id {user_id!r}")
            return self._users[user_id]

    def user_by_name(self, username: str) -> UserRecord | None:
        with self._lock:
            return next((u for u in self._users.values() if u.username == username), None)

    def list_users(self) -> list[UserRecord]:
        with self._lock:
            return sorted(self._users.values(), key=lambda u: (u.created_at, u.id))

    def update_user(self, user: UserRecord) -> None:
        with self._lock:
            old = self.get_user(user.id)
            self._users[user.id] = dataclasses.replace(
                old, password_hash=user.password_hash, role=user.role, disabled=user.disabled,
                updated_at=user.updated_at)

    def delete_user(self, user_id: str) -> None:
        with self._lock:
            self.get_user(user_id)
            self.delete_user_sessions(user_id)
            del self._users[user_id]

    # login sessions
    def create_session(self, session: SessionRecord) -> None:
        with self._lock:
            self.get_user(session.user_id)
            for token_hash, old in list(self._login_sessions.items()):
                if old.expires_at < session.created_at:
                    del self._login_sessions[token_hash]
            self._login_sessions[session.token_hash] = session

    def get_session(self, token_hash: str) -> SessionRecord | None:
        with self._lock:
            return self._login_sessions.get(token_hash)

    def touch_session(self, token_hash: str, when: datetime) -> None:
        with self._lock:
            if token_hash in self._login_sessions:
                self._login_sessions[token_hash] = dataclasses.replace(
                    self._login_sessions[token_hash], last_seen_at=when)

    def delete_session(self, token_hash: str) -> None:
        with self._lock:
            self._login_sessions.pop(token_hash, None)

    def delete_user_sessions(self, user_id: str) -> int:
        with self._lock:
            gone = [t for t, s in self._login_sessions.items() if s.user_id == user_id]
            for token_hash in gone:
                del self._login_sessions[token_hash]
            return len(gone)

    # API keys
    def create_key(self, key: KeyRecord) -> None:
        with self._lock:
            if key.id in self._keys or any(k.prefix == key.prefix for k in self._keys.values()):
                raise ConflictError("an API key with that id or prefix exists already")
            self._keys[key.id] = key

    def get_key(self, key_id: str) -> KeyRecord:
        with self._lock:
            if key_id not in self._keys:
                raise KeyNotFoundError(f"no API key with id {key_id!r}")
            return self._keys[key_id]

    def key_by_hash(self, secret_hash: str) -> KeyRecord | None:
        with self._lock:
            return next((k for k in self._keys.values() if k.secret_hash == secret_hash), None)

    def list_keys(self) -> list[KeyRecord]:
        with self._lock:
            return sorted(self._keys.values(), key=lambda k: (k.created_at, k.id))

    def revoke_key(self, key_id: str, when: datetime) -> KeyRecord:
        with self._lock:
            key = self.get_key(key_id)
            if key.revoked_at is None:
                key = self._keys[key_id] = dataclasses.replace(key, revoked_at=when)
            return key

    def touch_key(self, key_id: str, when: datetime) -> None:
        with self._lock:
            if key_id in self._keys:
                self._keys[key_id] = dataclasses.replace(self._keys[key_id], last_used_at=when)
