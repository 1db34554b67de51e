"""Users, login sessions and API keys as the stores keep them, and the ``AccessStore`` contract
(part of every ``GalleryStore``: the access tables live in the gallery database, so every
replica on one PostgreSQL sees the same users, sessions and keys).

Secrets are never stored: a user's password as its Argon2id hash, a session token and an API
key as their SHA-256 (hex). Times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    username: str
    password_hash: str
    role: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    #: SHA-256 (hex) of the session cookie's token.
    token_hash: str
    user_id: str
    #: The synchronizer token state-changing requests must echo in ``X-CSRF-Token``.
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    #: The visible part of the secret (``fg_<prefix>_...``), for recognising a key in lists.
    prefix: str
    #: SHA-256 (hex) of the whole secret.
    secret_hash: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    #: Who made it (a user id, ``bootstrap`` or None when unknown).
    created_by: str | None


class AccessStore(Protocol):
    """Errors: ConflictError (username or key prefix taken), UserNotFoundError,
    KeyNotFoundError, StoreError."""

    # users
    def create_user(self, user: UserRecord) -> None: ...

    def get_user(self, user_id: str) -> UserRecord: ...

    def user_by_name(self, username: str) -> UserRecord | None: ...

    def list_users(self) -> list[UserRecord]:
        """Every user, oldest first."""
        ...

    def update_user(self, user: UserRecord) -> None:
        """Write back ``password_hash``, ``role``, ``disabled`` and ``updated_at``."""
        ...

    def delete_user(self, user_id: str) -> None:
        """Delete the user and every session of theirs."""
        ...

    # login sessions
    def create_session(self, session: SessionRecord) -> None:
        """Insert it (and drop every session that expired)."""
        ...

    def get_session(self, token_hash: str) -> SessionRecord | None: ...

    def touch_session(self, token_hash: str, when: datetime) -> None: ...

    def delete_session(self, token_hash: str) -> None: ...

    def delete_user_sessions(self, user_id: str) -> int: ...

    # API keys
    def create_key(self, key: KeyRecord) -> None: ...

    def get_key(self, key_id: str) -> KeyRecord: ...

    def key_by_hash(self, secret_hash: str) -> KeyRecord | None: ...

    def list_keys(self) -> list[KeyRecord]:
        """Every key (revoked ones included), oldest first."""
        ...

    def revoke_key(self, key_id: str, when: datetime) -> KeyRecord:
        """Mark it revoked (the first revocation's time stays); returns the record."""
        ...

    def touch_key(self, key_id: str, when: datetime) -> None: ...
