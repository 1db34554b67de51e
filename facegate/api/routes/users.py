"""/v1/users (admin): accounts that sign in to the console and the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from facegate.api.access_schemas import UserIn, UserList, UserOut, UserPatch
from facegate.api.deps import AccessDep
from facegate.api.openapi import BODY, STORE, answers
from facegate.errors import ConflictError, UserNotFoundError
from facegate.storage.access_records import UserRecord

router = APIRouter(prefix="/v1/users", tags=["access"])


def user_view(user: UserRecord) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role,
            "disabled": user.disabled, "created_at": user.created_at,
            "updated_at": user.updated_at}


@router.get("", response_model=UserList, responses=answers(*STORE))
def list_users(access: AccessDep) -> dict[str, Any]:
    return {"items": [user_view(u) for u in access.users.list()]}


@router.post("", status_code=201, response_model=UserOut, responses=answers(
    *BODY, ConflictError, *STORE))
def add_user(body: UserIn, access: AccessDep) -> dict[str, Any]:
    """A new user (password at least 12 characters)."""
    return user_view(access.users.add(body.username, body.password, role=body.role))


@router.patch("/{user_id}", response_model=UserOut, responses=answers(
    *BODY, UserNotFoundError, ConflictError, *STORE))
def change_user(user_id: str, body: UserPatch, access: AccessDep) -> dict[str, Any]:
    """Change the password, role or disabled flag; a new password or disabling ends the
    user's sessions. The last enabled admin cannot be demoted or disabled (409)."""
    return user_view(access.users.change(user_id, password=body.password, role=body.role,
                                         disabled=body.disabled))


@router.delete("/{user_id}", response_model=UserOut, responses=answers(
    UserNotFoundError, ConflictError, *STORE))
def delete_user(user_id: str, access: AccessDep) -> dict[str, Any]:
    """Delete the user and their sessions (not the last enabled admin: 409)."""
    return user_view(access.users.delete(user_id))
