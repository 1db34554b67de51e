"""User accounts: add, list, change password or role, disable, delete, and the first admin."""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets

from facegate.access.passwords import hash_password
from facegate.access.principal import ROLES
from facegate.errors import ConflictError, StoreError, UserNotFoundError, ValidationError
from facegate.storage.access_records import AccessStore, UserRecord
from facegate.storage.base import new_id, utcnow

logger = logging.getLogger(__name__)
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
FIRST_ADMIN = "admin"


def check_username(username: str) -> str:
    if _USERNAME.fullmatch(username) is None:
        raise ValidationError("a user name is 1 to 64 letters, digits or . _ @ - (starting "
                              "with a letter or digit)")
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"a role is one of {', '.join(ROLES)}",
                              details={"roles": list(ROLES)})
    return role


class Users:
    def __init__(self, store: AccessStore) -> None:
        self._store = store

    def add(self, username: str, password: str, *, role: str) -> UserRecord:
        check_username(username)
        check_role(role)
        now = utcnow()
        user = UserRecord(id=new_id(), username=username, password_hash=hash_password(password),
                          role=role, disabled=False, created_at=now, updated_at=now)
        self._store.create_user(user)
        return user

    def list(self) -> list[UserRecord]:
        return self._store.list_users()

    def find(self, name_or_id: str) -> UserRecord:
        user = self._store.user_by_name(name_or_id)
        if user is None:
            try:
                return self._store.get_user(name_or_id)
            except UserNotFoundError:
                raise UserNotFoundError(f"no user named {name_or_id!r}") from None
        return user

    def change(self, name_or_id: str, *, password: str | None = None, role: str | None = None,
               disabled: bool | None = None) -> UserRecord:
        """Change what is given; a new password or disabling ends the user's sessions."""
        user = self.find(name_or_id)
        changed = dataclasses.replace(
            user, updated_at=utcnow(),
            password_hash=user.password_hash if password is None else hash_password(password),
            role=user.role if role is None else check_role(role),
            disabled=user.disabled if disabled is None else disabled)
        if user.role == "admin" and (changed.role != "admin" or changed.disabled):
            self._keep_an_admin(user)
        self._store.update_user(changed)
        if password is not None or changed.disabled:
            self._store.delete_user_sessions(user.id)
        return changed

    def delete(self, name_or_id: str) -> UserRecord:
        user = self.find(name_or_id)
        if user.role == "admin":
            self._keep_an_admin(user)
        self._store.delete_user(user.id)
        return user

    def _keep_an_admin(self, leaving: UserRecord) -> None:
        if not any(u.role == "admin" and not u.disabled and u.id != leaving.id
                   for u in self._store.list_users()):
            raise ConflictError("this is the last enabled admin: make another one first")

    def ensure_first_admin(self, password: str | None) -> bool:
        """With no user at all, create ``admin`` (with ``password``, or a random one written
        once to the log); whether it was created now."""
        if self._store.list_users():
            return False
        chosen = password or secrets.token_urlsafe(18)
        try:
            self.add(FIRST_ADMIN, chosen, role="admin")
        except (ConflictError, StoreError):
            if self._store.list_users():  # another replica made it first (PostgreSQL's
                return False             # unique index refused the second insert)
            raise
        if password:
            logger.info("created the first user %r with FACEGATE_AUTH__ADMIN_PASSWORD", FIRST_ADMIN)
        else:
            logger.warning("created the first user %r with the password %s (shown only this "
                           "once: sign in and change it)", FIRST_ADMIN, chosen)
        return True
