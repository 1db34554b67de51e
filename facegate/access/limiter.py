"""The login limiter and the client's address.

Failed logins are counted per user name and per client address. When one of them reaches its
limit within a minute it is locked out: the first time for ``lockout_s``, each further time for
twice as long (up to an hour); meanwhile every attempt is refused with TOO_MANY_ATTEMPTS and
``Retry-After`` without its password being looked at. A successful login clears the user name's
count. The counts live in this replica's memory (bounded); each replica counts on its own.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from facegate.errors import TooManyAttemptsError

WINDOW_S = 60.0
MAX_LOCKOUT_S = 3600.0
#: Names and addresses tracked at once; the least recently seen is forgotten past this.
MAX_TRACKED = 100_000


@dataclass(slots=True)
class _Track:
    failures: list[float] = field(default_factory=list)
    strikes: int = 0
    locked_until: float = 0.0


class LoginLimiter:
    def __init__(self, *, per_user: int, per_address: int, lockout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = {"u": per_user, "a": per_address}
        self._lockout_s = lockout_s
        self._clock = clock
        self._tracks: OrderedDict[str, _Track] = OrderedDict()

    def check(self, *, username: str, address: str) -> None:
        """TooManyAttemptsError while the name or the address is locked out."""
        now = self._clock()
        waits = [t.locked_until - now for key in self._keys(username, address)
                 if (t := self._tracks.get(key)) is not None and t.locked_until > now]
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise TooManyAttemptsError(
                f"too many failed sign-ins: try again in {retry} s",
                details={"retry_after_s": retry})

    def failed(self, *, username: str, address: str) -> None:
        now = self._clock()
        for key in self._keys(username, address):
            track = self._tracks.pop(key, None) or _Track()
            self._tracks[key] = track  # most recently seen last
            track.failures = [t for t in track.failures if now - t < WINDOW_S] + [now]
            if len(track.failures) >= self._limits[key[0]]:
                track.locked_until = now + min(self._lockout_s * 2 ** track.strikes,
                                               MAX_LOCKOUT_S)
                track.strikes += 1
                track.failures = []
        while len(self._tracks) > MAX_TRACKED:
            self._tracks.popitem(last=False)

    def succeeded(self, *, username: str) -> None:
        self._tracks.pop(f"u:{username}", None)

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"u:{username}", f"a:{address}"


def client_address(peer: str | None, forwarded_for: str | None, *,
                   trusted_proxies: list[str]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    address = peer or "unknown"
    if not forwarded_for or not trusted(address):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not trusted(hop):
            break
    return address
