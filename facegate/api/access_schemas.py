"""Request and response models of the access routes (auth, keys, users); see ``api.schemas``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from facegate.access.keys import MAX_DAYS, MAX_NAME
from facegate.access.passwords import MAX_LENGTH
from facegate.api.inputs import RequestModel

Scope = Literal["recognize", "enrol", "read", "train", "admin", "metrics"]
Role = Literal["admin", "operator", "viewer"]


class LoginIn(RequestModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class PasswordIn(RequestModel):
    """Change one's own password (at least 12 characters)."""

    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(min_length=1, max_length=MAX_LENGTH)


class PasswordChanged(BaseModel):
    """The password is changed; the user's other sessions have ended, this one goes on."""

    changed: Literal[True]


class MeOut(BaseModel):
    """Who the request acts as. ``kind``: ``user`` (a session), ``key``, ``bootstrap`` (a key of
    FACEGATE_SERVER__API_KEYS) or ``anonymous`` (an open loopback server)."""

    kind: Literal["user", "key", "bootstrap", "anonymous"]
    id: str | None
    name: str
    role: str | None
    scopes: list[Scope]
    #: A session's CSRF token (send it in X-CSRF-Token); null for keys.
    csrf_token: str | None = None
    expires_at: datetime | None = None


class LoginOut(MeOut):
    csrf_token: str
    expires_at: datetime


class KeyIn(RequestModel):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    scopes: list[Scope] = Field(min_length=1, max_length=6)
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    #: The operator's own UUID key (e.g. a CompreFace client's key string), stored hashed.
    key: str | None = Field(default=None, min_length=36, max_length=36,
                            description="use this UUID as the secret (CompreFace key shape)")
    #: Make the secret a random UUID instead of ``fg_...`` (CompreFace's clients).
    uuid: bool = False


class KeyOut(BaseModel):
    id: str
    name: str
    #: The visible part of the secret: ``fg_<prefix>_...``; a UUID key's ends in ``-``.
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str | None


class KeyCreated(KeyOut):
    #: The whole key, shown only in this answer (stored as a hash).
    secret: str


class KeyList(BaseModel):
    items: list[KeyOut]


class UserIn(RequestModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    role: Role = "viewer"


class UserPatch(RequestModel):
    password: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH)
    role: Role | None = None
    disabled: bool | None = None


class UserOut(BaseModel):
    id: str
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserList(BaseModel):
    items: list[UserOut]


class LoggedOut(BaseModel):
    signed_out: bool
