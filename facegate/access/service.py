"""``AccessService``: who a request acts as (an API key, a session, or nobody), login and
logout, and API key management. Every check reads the store, so a revoked key or an ended
session is refused at once by every replica sharing it."""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from datetime import datetime, timedelta

from facegate.access import keys
from facegate.access.limiter import LoginLimiter
from facegate.access.passwords import check_strength, hash_password, verify_password
from facegate.access.principal import ROLE_SCOPES, Principal, bootstrap
from facegate.access.users import Users
from facegate.config import Settings
from facegate.errors import AuthError, ConflictError, CsrfError, ValidationError
from facegate.storage.access_records import AccessStore, KeyRecord, SessionRecord, UserRecord
from facegate.storage.base import new_id, utcnow

#: ``last_used_at`` and a session's ``last_seen_at`` are written at most this often.
TOUCH_EVERY = timedelta(seconds=60)
LOGIN_FAILED = "wrong user name or password, or the account is disabled"


class AccessService:
    def __init__(self, store: AccessStore, settings: Settings) -> None:
        self._store = store
        self._bootstrap = [k.get_secret_value().encode() for k in settings.server.api_keys]
        self.required = settings.access_required
        auth = settings.auth
        self.session_length = timedelta(hours=auth.session_hours)
        self.idle = timedelta(minutes=auth.idle_minutes)
        self.limiter = LoginLimiter(per_user=auth.login_failures_per_user,
                                    per_address=auth.login_failures_per_address,
                                    lockout_s=auth.lockout_s)
        self.users = Users(store)
        self.trusted_proxies = list(auth.trusted_proxies)

    # who is calling
    def key_principal(self, secret: str) -> Principal:
        given = secret.encode("utf-8", "surrogatepass")
        for number, known in enumerate(self._bootstrap, 1):
            if hmac.compare_digest(given, known):
                return bootstrap(number)
        if not keys.looks_like_key(secret):
            raise AuthError("the API key is not valid")
        key = self._store.key_by_hash(keys.sha256(keys.canonical(secret)))
        now = utcnow()
        if key is None:
            raise AuthError("the API key is not valid")
        if key.revoked_at is not None:
            raise AuthError("the API key was revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise AuthError("the API key has expired")
        if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
            self._store.touch_key(key.id, now)
        return Principal(kind="key", id=key.id, name=key.name, role=None,
                         scopes=frozenset(key.scopes))

    def session_principal(self, token: str, *, csrf: str | None,
                          changes_state: bool) -> tuple[Principal, SessionRecord]:
        """The session's user; AuthError when it ended, CsrfError when a state-changing
        request does not carry the session's CSRF token."""
        token_hash = keys.sha256(token)
        session = self._store.get_session(token_hash)
        now = utcnow()
        if session is None:
            raise AuthError("the session has ended: sign in again")
        if now >= session.expires_at or now - session.last_seen_at >= self.idle:
            self._store.delete_session(token_hash)
            raise AuthError("the session has expired: sign in again")
        user = self._store.get_user(session.user_id)
        if user.disabled:
            raise AuthError("the account is disabled")
        if changes_state and (csrf is None or not hmac.compare_digest(
                csrf.encode("utf-8", "surrogatepass"), session.csrf_token.encode())):
            raise CsrfError("this request needs the session's CSRF token in X-CSRF-Token",
                            details={"header": "X-CSRF-Token"})
        if now - session.last_seen_at >= min(TOUCH_EVERY, self.idle / 4):
            self._store.touch_session(token_hash, now)
        return user_principal(user), session

    # sessions
    def login(self, username: str, password: str, *,
              address: str) -> tuple[str, SessionRecord, UserRecord]:
        """``(cookie token, session, user)``; the same AuthError for an unknown user, a wrong
        password and a disabled account; TooManyAttemptsError while locked out."""
        self.limiter.check(username=username, address=address)
        user = self._store.user_by_name(username)
        if not verify_password(user.password_hash if user else None, password) \
                or user is None or user.disabled:
            self.limiter.failed(username=username, address=address)
            raise AuthError(LOGIN_FAILED)
        self.limiter.succeeded(username=username)
        token, now = secrets.token_urlsafe(32), utcnow()
        session = SessionRecord(token_hash=keys.sha256(token), user_id=user.id,
                                csrf_token=secrets.token_urlsafe(32), created_at=now,
                                expires_at=now + self.session_length, last_seen_at=now)
        self._store.create_session(session)
        return token, session, user

    def logout(self, session: SessionRecord) -> None:
        self._store.delete_session(session.token_hash)

    def change_own_password(self, session: SessionRecord, *, current: str, new: str,
                            address: str) -> UserRecord:
        """The signed-in user's new password: ValidationError when it is too short or long,
        the login's AuthError (and a counted failure) when ``current`` is wrong. Every other
        session of the user ends; this one is kept."""
        check_strength(new)
        user = self._store.get_user(session.user_id)
        self.limiter.check(username=user.username, address=address)
        if not verify_password(user.password_hash, current) or user.disabled:
            self.limiter.failed(username=user.username, address=address)
            raise AuthError(LOGIN_FAILED)
        changed = dataclasses.replace(user, password_hash=hash_password(new),
                                      updated_at=utcnow())
        self._store.update_user(changed)
        self._store.delete_user_sessions(user.id)
        self._store.create_session(session)  # this one goes on
        return changed

    # API keys
    def create_key(self, *, name: str, scopes: list[str], expires_in_days: int | None,
                   created_by: str | None, secret: str | None = None,
                   uuid: bool = False) -> tuple[str, KeyRecord]:
        """``(secret, record)``: the secret exists only in this answer. ``secret``: the
        operator's own UUID key (ConflictError when in use); ``uuid``: make a UUID key."""
        name, chosen = keys.check_key_name(name), keys.check_scopes(scopes)
        if expires_in_days is not None and not 1 <= expires_in_days <= keys.MAX_DAYS:
            raise ValidationError(f"expires_in_days must be 1 to {keys.MAX_DAYS}")
        now = utcnow()
        expires = None if expires_in_days is None else now + timedelta(days=expires_in_days)
        made = keys.given_secret(secret) if secret is not None \
            else keys.new_uuid_secret() if uuid else None
        if made is not None and (self._store.key_by_hash(keys.sha256(made[0])) is not None
                                 or any(k.prefix == made[1] for k in self._store.list_keys())):
            raise ConflictError("this key (or one starting with the same 8 characters) "
                                "already exists: give another")
        return self._new_key(name=name, scopes=chosen, expires=expires, created_by=created_by,
                             made=made)

    def _new_key(self, *, name: str, scopes: tuple[str, ...], expires: datetime | None,
                 created_by: str | None,
                 made: tuple[str, str] | None = None) -> tuple[str, KeyRecord]:
        secret, prefix = made or keys.new_secret()
        now = utcnow()
        record = KeyRecord(id=new_id(), name=name, prefix=prefix, secret_hash=keys.sha256(secret),
                           scopes=scopes, created_at=now, expires_at=expires, revoked_at=None,
                           last_used_at=None, created_by=created_by)
        self._store.create_key(record)
        return secret, record

    def list_keys(self) -> list[KeyRecord]:
        return self._store.list_keys()

    def revoke_key(self, key_id: str) -> KeyRecord:
        return self._store.revoke_key(key_id, utcnow())

    def rotate_key(self, key_id: str, *, created_by: str | None) -> tuple[str, KeyRecord]:
        """A new secret with the old key's name, scopes and expiry (a UUID key gets a UUID);
        the old key is revoked (ConflictError for a key already revoked)."""
        old = self._store.get_key(key_id)
        if old.revoked_at is not None:
            raise ConflictError("a revoked key cannot be rotated: create a new one")
        made = self._new_key(name=old.name, scopes=old.scopes, expires=old.expires_at,
                             created_by=created_by, made=keys.new_uuid_secret()
                             if keys.is_uuid_prefix(old.prefix) else None)
        self.revoke_key(key_id)
        return made


def user_principal(user: UserRecord) -> Principal:
    return Principal(kind="user", id=user.id, name=user.username, role=user.role,
                     scopes=ROLE_SCOPES.get(user.role, frozenset()))
