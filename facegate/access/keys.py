"""API key secrets: ``fg_<prefix>_<secret>``, the 8-character prefix shown in lists, the whole
string stored only as its SHA-256. A key may also be a UUID (CompreFace's key shape, so its
clients' configurations keep their key strings): made here or given by the operator, written
lowercase before hashing, its prefix its first 8 hex digits and the hyphen (``1f0c1e9a-``: the
hyphen tells it from an ``fg_`` key's prefix)."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import uuid

from facegate.access.principal import SCOPES
from facegate.errors import ValidationError

PREFIX_LENGTH = 8
_SHAPE = re.compile(r"fg_([a-z0-9]{8})_[A-Za-z0-9_-]{43}")
_ALPHABET = string.ascii_lowercase + string.digits
MAX_NAME = 100
MAX_DAYS = 3650
#: CompreFace's services as facegate scopes (``facegate keys create --compreface ...``).
COMPREFACE_SERVICES: dict[str, tuple[str, ...]] = {
    "recognition": ("recognize", "enrol", "read"),
    "detection": ("recognize",),
    "verification": ("recognize",),
}


def new_secret() -> tuple[str, str]:
    """``(secret, prefix)``: 256 random bits behind a random visible prefix."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LENGTH))
    return f"fg_{prefix}_{secrets.token_urlsafe(32)}", prefix


def looks_like_key(secret: str) -> bool:
    return _SHAPE.fullmatch(secret) is not None or uuid_key(secret) is not None


def uuid_key(text: str) -> str | None:
    """``text`` as a lowercase hyphenated UUID when it is one (36 characters), else None."""
    if len(text) != 36:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def canonical(secret: str) -> str:
    """The form a secret is hashed in: UUID keys lowercase, others as given."""
    return uuid_key(secret) or secret


def given_secret(text: str) -> tuple[str, str]:
    """An operator's UUID key as ``(secret, prefix)``; ValidationError when not a UUID."""
    secret = uuid_key(text.strip())
    if secret is None:
        raise ValidationError("a given key must be a UUID, e.g. "
                              "00000000-0000-4000-8000-000000000000 (CompreFace's key shape)")
    return secret, secret[:PREFIX_LENGTH + 1]


def new_uuid_secret() -> tuple[str, str]:
    secret = str(uuid.uuid4())
    return secret, secret[:PREFIX_LENGTH + 1]


def is_uuid_prefix(prefix: str) -> bool:
    return prefix.endswith("-")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def check_scopes(scopes: list[str]) -> tuple[str, ...]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationError(f"scopes must be one or more of {', '.join(SCOPES)}",
                              details={"unknown": unknown, "scopes": list(SCOPES)})
    return tuple(s for s in SCOPES if s in scopes)


def check_key_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValidationError(f"a key name must be 1 to {MAX_NAME} printable characters")
    return name
