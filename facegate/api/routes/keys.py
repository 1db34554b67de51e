"""/v1/keys (admin): create an API key (its secret shown once), list, rotate, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from facegate.api.access_schemas import KeyCreated, KeyIn, KeyList, KeyOut
from facegate.api.deps import AccessDep, PrincipalDep
from facegate.api.openapi import BODY, STORE, answers
from facegate.errors import ConflictError, KeyNotFoundError
from facegate.storage.access_records import KeyRecord

router = APIRouter(prefix="/v1/keys", tags=["access"])


def key_view(key: KeyRecord) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": list(key.scopes),
            "created_at": key.created_at, "expires_at": key.expires_at,
            "revoked_at": key.revoked_at, "last_used_at": key.last_used_at,
            "created_by": key.created_by}


@router.post("", status_code=201, response_model=KeyCreated,
             responses=answers(*BODY, ConflictError, *STORE))
def create_key(body: KeyIn, access: AccessDep, principal: PrincipalDep) -> dict[str, Any]:
    """A new key with these scopes (and expiry, in days): ``secret`` is in this answer only;
    send it in ``X-API-Key`` or ``Authorization: Bearer``. ``key``: your own UUID as the
    secret, ``uuid``: a random UUID one (CompreFace's clients, docs/compat.md); 409 when that
    key is in use."""
    secret, key = access.create_key(name=body.name, scopes=list(body.scopes),
                                    expires_in_days=body.expires_in_days,
                                    created_by=principal.id, secret=body.key, uuid=body.uuid)
    return {**key_view(key), "secret": secret}


@router.get("", response_model=KeyList, responses=answers(*STORE))
def list_keys(access: AccessDep) -> dict[str, Any]:
    """Every key, revoked ones included, oldest first; never a secret."""
    return {"items": [key_view(k) for k in access.list_keys()]}


@router.post("/{key_id}/rotate", status_code=201, response_model=KeyCreated,
             responses=answers(KeyNotFoundError, ConflictError, *STORE))
def rotate_key(key_id: str, access: AccessDep, principal: PrincipalDep) -> dict[str, Any]:
    """A new key (new id and secret, shown once) with this key's name, scopes and expiry;
    this key is revoked. A revoked key cannot be rotated (409)."""
    secret, key = access.rotate_key(key_id, created_by=principal.id)
    return {**key_view(key), "secret": secret}


@router.delete("/{key_id}", response_model=KeyOut, responses=answers(KeyNotFoundError, *STORE))
def revoke_key(key_id: str, access: AccessDep) -> dict[str, Any]:
    """Revoke the key: refused from the next request on, by every replica."""
    return key_view(access.revoke_key(key_id))
