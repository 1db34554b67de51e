"""/v1/auth: sign in (a server-side session in an HttpOnly cookie, with its CSRF token),
sign out, and who the request acts as."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request, Response

from facegate.access.limiter import client_address
from facegate.access.principal import ANONYMOUS, SCOPES, Principal
from facegate.access.service import user_principal
from facegate.api.access_schemas import (
    LoggedOut,
    LoginIn,
    LoginOut,
    MeOut,
    PasswordChanged,
    PasswordIn,
)
from facegate.api.deps import SESSION_COOKIE, AccessDep, PrincipalDep
from facegate.api.openapi import BODY, STORE, answers
from facegate.errors import AuthError, TooManyAttemptsError
from facegate.storage.access_records import SessionRecord

router = APIRouter(prefix="/v1/auth", tags=["access"])


def me_view(principal: Principal, session: SessionRecord | None) -> dict[str, Any]:
    return {"kind": principal.kind, "id": principal.id, "name": principal.name,
            "role": principal.role, "scopes": [s for s in SCOPES if s in principal.scopes],
            "csrf_token": session.csrf_token if session else None,
            "expires_at": session.expires_at if session else None}


@router.post("/login", response_model=LoginOut, responses=answers(
    *BODY, AuthError, TooManyAttemptsError, *STORE))
def login(body: LoginIn, request: Request, response: Response,
          access: AccessDep) -> dict[str, Any]:
    """Sign in: a session cookie (HttpOnly, SameSite=Strict, Secure under TLS) and, in the
    body, the CSRF token every state-changing request of the session must send in
    ``X-CSRF-Token``. An unknown user, a wrong password and a disabled account get the same
    401; repeated failures lock the name and the address out (429 with Retry-After)."""
    request.state.principal = ANONYMOUS  # until the password holds
    address = _address(request, access)
    token, session, user = access.login(body.username, body.password, address=address)
    request.state.principal = user_principal(user)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=math.ceil(access.session_length.total_seconds()),
        path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return me_view(user_principal(user), session)


def _address(request: Request, access: AccessDep) -> str:
    return client_address(request.client.host if request.client else None,
                          request.headers.get("x-forwarded-for"),
                          trusted_proxies=access.trusted_proxies)


@router.post("/password", response_model=PasswordChanged, responses=answers(
    *BODY, AuthError, TooManyAttemptsError, *STORE))
def change_password(body: PasswordIn, request: Request, principal: PrincipalDep,
                    access: AccessDep) -> dict[str, Any]:
    """Change the signed-in user's own password (a session only: an API key has none, 401).
    A wrong ``current_password`` gets the login's 401 (and counts as a failed login); a new
    one under 12 characters 422 VALIDATION_ERROR. The user's other sessions end; this one
    goes on."""
    session: SessionRecord | None = getattr(request.state, "session", None)
    if session is None:
        raise AuthError("only a signed-in user has a password to change (an API key has "
                        "none): sign in first", details={"kind": principal.kind})
    access.change_own_password(session, current=body.current_password,
                               new=body.new_password, address=_address(request, access))
    return {"changed": True}


@router.post("/logout", response_model=LoggedOut, responses=answers(*STORE))
def logout(request: Request, response: Response, principal: PrincipalDep,
           access: AccessDep) -> dict[str, Any]:
    """End this session (its cookie is refused from now on, on every replica). With an API
    key there is nothing to end: ``signed_out`` is false."""
    session: SessionRecord | None = getattr(request.state, "session", None)
    if session is not None:
        access.logout(session)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return {"signed_out": session is not None}


@router.get("/me", response_model=MeOut, responses=answers(*STORE))
def me(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """Who the request acts as, its scopes, and for a session its CSRF token and expiry."""
    return me_view(principal, getattr(request.state, "session", None))
