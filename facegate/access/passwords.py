"""Passwords: Argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation),
a minimum length, and checks that take as long for an unknown user as for a wrong password.
Each hash takes 64 MiB for ~50 ms: at most ``CONCURRENT_HASHES`` run at once, so a burst of
sign-ins from many names and addresses cannot take the server's memory."""

from __future__ import annotations

import threading

import argon2

from facegate.errors import ValidationError

MIN_LENGTH = 12
MAX_LENGTH = 1024
CONCURRENT_HASHES = 2
_slots = threading.BoundedSemaphore(CONCURRENT_HASHES)
_hasher = argon2.PasswordHasher()
#: Verified against when the user does not exist, so that answer takes as long as a wrong one.
_DUMMY = _hasher.hash("not-a-password-of-anyone")


def check_strength(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"a password must be at least {MIN_LENGTH} characters long",
                              details={"min_length": MIN_LENGTH})
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"a password must be at most {MAX_LENGTH} characters long")
    return password


def hash_password(password: str) -> str:
    check_strength(password)
    with _slots:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches (None: no such user; the same work is done anyway)."""
    try:
        with _slots:
            return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
