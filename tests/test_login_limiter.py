"""The login limiter's lock-outs (doubling, per name and per address) on a clock the test
moves, and which address ``X-Forwarded-For`` may name."""

from __future__ import annotations

import pytest

from facegate.access.limiter import MAX_LOCKOUT_S, LoginLimiter, client_address
from facegate.errors import TooManyAttemptsError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def retry_after(limiter: LoginLimiter, username: str, address: str) -> int | None:
    try:
        limiter.check(username=username, address=address)
    except TooManyAttemptsError as exc:
        return int(exc.details["retry_after_s"])
    return None


def test_lockouts_double_and_a_success_clears_the_name() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_user=3, per_address=100, lockout_s=30, clock=clock)
    waits = []
    for _ in range(8):
        for _ in range(3):
            assert retry_after(limiter, "eve", "10.0.0.1") is None
            limiter.failed(username="eve", address="10.0.0.1")
        waits.append(retry_after(limiter, "eve", "10.0.0.1"))
        assert retry_after(limiter, "bob", "10.0.0.1") is None  # another name may still try
        clock.now += waits[-1] or 0
    assert waits == [30, 60, 120, 240, 480, 960, 1920, int(MAX_LOCKOUT_S)]
    limiter.failed(username="eve", address="10.0.0.1")
    limiter.succeeded(username="eve")
    limiter.failed(username="eve", address="10.0.0.1")
    limiter.failed(username="eve", address="10.0.0.1")
    assert retry_after(limiter, "eve", "10.0.0.1") is None  # the count started again


def test_failures_older_than_a_minute_do_not_count_and_addresses_lock_too() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_user=3, per_address=4, lockout_s=10, clock=clock)
    for _ in range(5):
        limiter.failed(username="eve", address="10.0.0.2")
        limiter.failed(username="eve", address="10.0.0.2")
        clock.now += 61
    assert retry_after(limiter, "eve", "10.0.0.2") is None
    for name in ("a", "b", "c", "d"):
        limiter.failed(username=name, address="10.0.0.3")
    assert retry_after(limiter, "someone-else", "10.0.0.3") == 10
    assert retry_after(limiter, "someone-else", "10.0.0.4") is None


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "expected"), [
    ("10.0.0.9", "1.2.3.4", [], "10.0.0.9"),  # no trusted proxy: the header is ignored
    ("10.0.0.9", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
    ("10.0.0.9", "6.6.6.6, 1.2.3.4, 10.0.0.5", ["10.0.0.0/8"], "1.2.3.4"),  # forged left part
    ("192.168.1.1", "1.2.3.4", ["10.0.0.0/8"], "192.168.1.1"),
    ("10.0.0.9", None, ["10.0.0.0/8"], "10.0.0.9"),
    (None, None, [], "unknown"),
])
def test_client_address(peer: str | None, forwarded: str | None, trusted: list[str],
                        expected: str) -> None:
    assert client_address(peer, forwarded, trusted_proxies=trusted) == expected
