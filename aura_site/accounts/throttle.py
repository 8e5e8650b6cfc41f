"""Throttling of sign-in attempts: the login form (per account and per client address) and API
tokens (per client address).

Counters live in the cache (shared between processes when ``REDIS_URL`` is set). An attempt
takes its place in every counter it belongs to *before* the password or token is checked, with
the cache's atomic increment, and gives it back when it succeeds. So a burst of concurrent
guesses gets at most the limit of checks, never "every request that read the counter before the
first failure was counted": once a counter is at its limit, further attempts are refused without
a check until the window ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest

WINDOW_SECONDS = 15 * 60
LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_ADDRESS = 20
TOKEN_FAILURES_PER_ADDRESS = 20


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    limit: int


class Throttled(Exception):
    """Too many failed attempts; ``retry_after`` seconds until the window ends, at most."""

    def __init__(self, retry_after: int = WINDOW_SECONDS) -> None:
        super().__init__(THROTTLED_MESSAGE)
        self.retry_after = retry_after


THROTTLED_MESSAGE = (
    f"Too many failed attempts. Wait {WINDOW_SECONDS // 60} minutes, then try again."
)


def client_address(request: HttpRequest | None) -> str:
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


def login_counters(username: str, address: str) -> list[Counter]:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [
        Counter(f"login-failures:user:{digest}", LOGIN_FAILURES_PER_ACCOUNT),
        Counter(f"login-failures:addr:{address}", LOGIN_FAILURES_PER_ADDRESS),
    ]


def token_counters(address: str) -> list[Counter]:
    return [Counter(f"token-failures:addr:{address}", TOKEN_FAILURES_PER_ADDRESS)]


def _incr(key: str) -> int:
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        return int(cache.incr(key))
    except ValueError:
        cache.set(key, 1, WINDOW_SECONDS)
        return 1


def _decr(key: str) -> None:
    try:
        if int(cache.decr(key)) < 0:
            cache.set(key, 0, WINDOW_SECONDS)
    except ValueError:
        pass


def attempt_begin(counters: Sequence[Counter]) -> None:
    """Take this attempt's place in every counter, or raise ``Throttled`` (taking none) when one
    of them is already at its limit."""
    taken: list[str] = []
    for counter in counters:
        if _incr(counter.key) > counter.limit:
            _decr(counter.key)
            for key in taken:
                _decr(key)
            raise Throttled()
        taken.append(counter.key)


def failure_record(counters: Sequence[Counter]) -> None:
    """Count a failed attempt that took no place beforehand."""
    for counter in counters:
        _incr(counter.key)


def attempt_succeeded(counters: Sequence[Counter]) -> None:
    """The attempt was right: give its places back (only failures count)."""
    for counter in counters:
        _decr(counter.key)


def throttled(counters: Sequence[Counter]) -> bool:
    """Whether any counter is at its limit (nothing is taken)."""
    values = cache.get_many([counter.key for counter in counters])
    return any(int(values.get(c.key, 0)) >= c.limit for c in counters)
