"""``Principal``: who a request acts as, and the scopes each role holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Every scope: ``recognize`` (identify, verify, detect, embed, liveness), ``enrol``
#: (create/update identities, add/delete faces), ``read`` (list/get identities, faces,
#: chips), ``train`` (training, models), ``admin`` (keys, users, config), ``metrics``
#: (``GET /metrics``: a key for Prometheus that can do nothing else).
SCOPES: tuple[str, ...] = ("recognize", "enrol", "read", "train", "admin", "metrics")
ALL_SCOPES = frozenset(SCOPES)
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": ALL_SCOPES,
    "operator": frozenset({"recognize", "enrol", "read", "train"}),
    "viewer": frozenset({"read", "recognize"}),
}
ROLES: tuple[str, ...] = tuple(ROLE_SCOPES)


@dataclass(frozen=True, slots=True)
class Principal:
    """``kind``: a signed-in ``user``, an API ``key`` from the store, a ``bootstrap`` key
    (FACEGATE_SERVER__API_KEYS: admin) or ``anonymous`` (an open loopback server: every
    scope)."""

    kind: Literal["user", "key", "bootstrap", "anonymous"]
    id: str | None
    name: str
    role: str | None
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


ANONYMOUS = Principal(kind="anonymous", id=None, name="anonymous", role=None,
                      scopes=ALL_SCOPES)


def bootstrap(number: int) -> Principal:
    """The ``number``-th (1-based) key of FACEGATE_SERVER__API_KEYS."""
    return Principal(kind="bootstrap", id=f"bootstrap-{number}", name=f"bootstrap key {number}",
                     role="admin", scopes=ALL_SCOPES)
