"""``AuditTrail``: the ASGI middleware that records one audit row per audited request.

It is the outermost layer, so it sees every answer, refusals by other middleware (body limits,
authentication, rate limits) included. Which route a request is for comes from matching the
app's own routes, so the row names the path template (``/v1/identities/{identity_id}``), never
the raw URL or its query. Audited: every ``/v1`` request that is not a GET, and GETs of
biometric data (``/v1/identities…``: people, faces, chips; and ``/v1/audit``). Routes add what
only they know with ``note(request, identity_ids=[...], **details)``; path parameters
(``identity_id``, ``face_id``, ``job_id``…) are picked up without any code in the route.

The actor is ``request.state.principal`` when the access layer set it (kind, id, name);
otherwise a key from ``server.api_keys`` in the request makes it ``bootstrap``, anything else
``anonymous``. The client is ``request.state.client_address`` when set (the address behind a
trusted proxy), else the socket's peer. The request id is ``request.state.request_id`` (else
the response's ``X-Request-ID``, else a fresh one). The record is handed to ``AuditWriter``
after the response: queueing costs the request microseconds; commits happen in batches.
"""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from pydantic import SecretStr
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facegate.services.audit import AuditWriter
from facegate.storage.audit import AuditRecord

#: GETs of these are audited (they read biometric data or the log itself).
AUDITED_READS = ("/v1/identities", "/v1/audit", "/api/v1/recognition/")
#: The paths audited: /v1 and CompreFace's dialect (``api/compat``).
AUDITED_ROOTS = ("/v1", "/api/v1/")
#: Error bodies are read up to this many bytes for their code.
_ERROR_SNIFF = 4096
_MAX_TEXT = 200


def note(request: Request, *, identity_ids: Iterable[str] = (), **details: Any) -> None:
    """Add identity ids and small details (numbers, short text; never images or descriptors)
    to this request's audit row."""
    audit: dict[str, Any] | None = getattr(request.state, "audit", None)
    if audit is None:
        audit = request.state.audit = {}
    audit.setdefault("identity_ids", []).extend(identity_ids)
    audit.update(details)


def audited(method: str, path: str) -> bool:
    if not path.startswith(("/v1/", "/api/v1/")) and path != "/v1":
        return False
    if method in ("GET", "HEAD"):
        return path.startswith(AUDITED_READS)
    return method != "OPTIONS"


class AuditTrail:
    def __init__(self, app: ASGIApp, *, writer: AuditWriter, api: FastAPI,
                 bootstrap_keys: list[SecretStr]) -> None:
        self.app, self._writer, self._api = app, writer, api
        self._keys = [k.get_secret_value().encode() for k in bootstrap_keys]
        self._routes: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(AUDITED_ROOTS):
            await self.app(scope, receive, send)
            return
        started, clock = datetime.now(UTC), time.perf_counter()
        answer: dict[str, Any] = {"status": 500, "request_id": None, "error": bytearray()}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"x-request-id":
                        answer["request_id"] = value.decode("latin-1")
            elif message["type"] == "http.response.body" and answer["status"] >= 400 \
                    and len(answer["error"]) < _ERROR_SNIFF:
                answer["error"] += message.get("body", b"")[:_ERROR_SNIFF]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            matched = self._match(scope)
            if matched is not None:
                record = self._record(scope, *matched, answer, started=started,
                                      elapsed_ms=(time.perf_counter() - clock) * 1000)
                if not self._writer.offer(record):
                    await anyio.to_thread.run_sync(self._writer.submit, record)

    def _match(self, scope: Scope) -> tuple[str, dict[str, Any]] | None:
        """The path template and path parameters of an audited request (None: not audited),
        from the app's routes as its OpenAPI document lists them (full templates, every
        router's prefix included), else from the route the router picked."""
        if self._routes is None:
            self._routes = [(compile_path(path)[0], path, frozenset(m.upper() for m in item))
                            for path, item in self._api.openapi().get("paths", {}).items()]
        method, path = scope["method"], scope["path"]
        template, params = None, {}
        for regex, candidate, methods in self._routes:
            found = regex.match(path)
            if found is not None and method in methods:
                template, params = candidate, found.groupdict()
                break
        else:
            route = scope.get("route")
            if route is not None and getattr(route, "path_regex", None) is not None \
                    and route.path_regex.match(path):
                template, params = route.path_format, dict(scope.get("path_params") or {})
        if template is None or not audited(method, template):
            return None
        return template, params

    def _record(self, scope: Scope, template: str, path_params: dict[str, Any],
                answer: dict[str, Any], *, started: datetime, elapsed_ms: float) -> AuditRecord:
        state: dict[str, Any] = scope.get("state") or {}
        noted = dict(state.get("audit") or {})
        ids = [str(i)[:_MAX_TEXT] for i in noted.pop("identity_ids", [])]
        noted_error = noted.pop("error_code", None)  # a dialect's answer names facegate's code
        if "identity_id" in path_params:
            ids.insert(0, str(path_params.pop("identity_id"))[:_MAX_TEXT])
        details = {**_clean(path_params), **_clean(noted), "duration_ms": round(elapsed_ms, 1)}
        kind, actor_id, actor_name = self._actor(scope, state.get("principal"))
        client = scope.get("client")
        address = state.get("client_address") or (client[0] if client else None)
        return AuditRecord(
            id=uuid.uuid4().hex, time=started, actor_kind=kind, actor_id=actor_id,
            actor_name=actor_name, client=None if address is None else str(address)[:_MAX_TEXT],
            request_id=str(state.get("request_id") or answer["request_id"]
                           or uuid.uuid4().hex)[:_MAX_TEXT],
            method=scope["method"], route=template, status=int(answer["status"]),
            error_code=None if answer["status"] < 400 else str(noted_error)[:_MAX_TEXT]
            if noted_error else _error_code(bytes(answer["error"])),
            identity_ids=tuple(dict.fromkeys(ids)), details=details)

    def _actor(self, scope: Scope, principal: object) -> tuple[str, str | None, str | None]:
        if principal is not None:
            actor_id, name = getattr(principal, "id", None), getattr(principal, "name", None)
            return (str(getattr(principal, "kind", "anonymous")),
                    None if actor_id is None else str(actor_id),
                    None if name is None else str(name))
        presented = _presented_key(scope)
        for number, key in enumerate(self._keys, 1):
            if presented is not None and hmac.compare_digest(presented, key):
                return "bootstrap", f"bootstrap-{number}", f"bootstrap key {number}"
        return "anonymous", None, None


def _presented_key(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name == b"x-api-key":
            return bytes(value)
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return bytes(value[7:]).strip()
    return None


def _error_code(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error", {})
        code = error.get("code") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        return None
    return str(code)[:_MAX_TEXT] if code is not None else None


def _clean(values: dict[str, Any], *, nested: bool = True) -> dict[str, Any]:
    """Only small JSON scalars (and short lists of them, and one level of objects of them, such
    as an erasure receipt): nothing an image could hide in."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if nested and isinstance(value, dict) and len(value) <= 32:
            out[str(key)] = _clean(value, nested=False)
        elif isinstance(value, bool | int | float) or value is None:
            out[str(key)] = value
        elif isinstance(value, str):
            out[str(key)] = value[:_MAX_TEXT]
        elif isinstance(value, list | tuple) and len(value) <= 32 and all(
                isinstance(v, str | int | float | bool) for v in value):
            out[str(key)] = [v[:_MAX_TEXT] if isinstance(v, str) else v for v in value]
    return out


def note_identify(request: Request, answer: dict[str, Any] | None) -> None:
    """Identify's row: the identity ids it named and how many faces stayed ``unknown``."""
    faces = (answer or {}).get("faces", [])
    named = [f["identity"]["identity_id"] for f in faces
             if f.get("status") == "identified" and f.get("identity")]
    note(request, identity_ids=named, faces=len(faces),
         unknown=sum(f.get("status") == "unknown" for f in faces))


def note_verify(request: Request, answer: dict[str, Any] | None) -> None:
    """Verify's row: the decision, the distance and the identity compared against, if any."""
    if not answer:
        return
    identity = answer.get("identity") or {}
    note(request, identity_ids=[identity["id"]] if identity.get("id") else [],
         match=bool(answer.get("match")), distance=answer.get("distance"),
         mode=answer.get("mode"))
