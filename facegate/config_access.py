"""Settings sections of access control: users and sessions, request rates and the audit log
(built into ``config.Settings``). Imports nothing from facegate."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import NoDecode


def split_commas(value: object) -> object:
    """``"a, b"`` from an environment variable → ``["a", "b"]``; lists pass through."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class AuthSettings(BaseModel):
    """Users, sessions and the login limiter (docs/security.md)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    #: The first ``admin``'s password when the server starts with no user at all; unset: a
    #: random one is printed once to the server log.
    admin_password: SecretStr | None = None
    #: A login session ends this many hours after sign-in ...
    session_hours: float = Field(default=12.0, gt=0.0, le=24 * 366)
    #: ... or after this many minutes without a request, whichever comes first.
    idle_minutes: float = Field(default=30.0, gt=0.0, le=24 * 60 * 366)
    #: Require a key or a session on every /v1 route even on a loopback server without keys.
    required: bool = False
    #: Failed logins per user name within a minute before it is locked out (429) ...
    login_failures_per_user: int = Field(default=5, ge=1, le=1000)
    #: ... and per client address (many people may share one address).
    login_failures_per_address: int = Field(default=20, ge=1, le=10_000)
    #: The first lock-out (seconds); each further one doubles, up to an hour.
    lockout_s: float = Field(default=30.0, gt=0.0, le=3600.0)
    #: Proxies (addresses or networks) whose ``X-Forwarded-For`` names the client.
    trusted_proxies: Annotated[list[str], NoDecode, BeforeValidator(split_commas)] = Field(
        default_factory=list)

    @model_validator(mode="after")
    def _proxies_parse(self) -> AuthSettings:
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an address or network") \
                    from exc
        if self.admin_password is not None and len(self.admin_password.get_secret_value()) < 12:
            raise ValueError("admin_password must be at least 12 characters long")
        return self


class RateSettings(BaseModel):
    """Request rates per caller (its API key when it sends one, else its client address), by
    scope; 0 turns a scope's limit off. Over it: 429 RATE_LIMITED with Retry-After."""

    #: Requests a minute to identify, verify, detect, embed and liveness, per caller.
    recognize_per_minute: int = Field(default=1200, ge=0, le=1_000_000)
    #: ... of which this many may come at once (saved up while the caller is idle).
    recognize_burst: int = Field(default=600, ge=1, le=1_000_000)
    #: Callers tracked at once (one small bucket each); past it the least recent is forgotten.
    max_buckets: int = Field(default=100_000, ge=1, le=10_000_000)


class AuditSettings(BaseModel):
    """The audit log (docs/audit.md): one row per request that touches biometric data or
    changes anything, written in batches by a background thread."""

    #: Record requests at all.
    enabled: bool = True
    #: Rows older than this many days are purged (at start and hourly); 0 keeps them forever.
    retention_days: int = Field(default=90, ge=0, le=36_500)
    #: Rows waiting for the writer; when full, a request waits up to ``full_wait_ms`` for room
    #: (off the event loop), then its row is dropped, counted and logged.
    queue_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    full_wait_ms: int = Field(default=200, ge=0, le=10_000)
    #: The writer commits what is queued every this many milliseconds, or sooner once
    #: ``batch_rows`` are waiting; a crash loses at most the rows not yet committed.
    flush_ms: int = Field(default=100, ge=1, le=60_000)
    batch_rows: int = Field(default=200, ge=1, le=10_000)
