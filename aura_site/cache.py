"""The shared cache on Redis, for the scaled-out set-up.

What the studio keeps there is advisory: circuit-breaker states, the version of the staff's
provider keys, whether Ollama has answered, login attempt counts. A Redis that restarts or is
briefly unreachable must therefore fail nothing. Each command is tried again on a fresh
connection (a restarted Redis has closed every pooled one), then, if Redis still does not
answer, reads find nothing, writes are dropped and counters start again, with one warning
every ``_WARN_EVERY_SECONDS`` in each process.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

logger = logging.getLogger(__name__)

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_WARN_EVERY_SECONDS = 10.0
_warned_at = 0.0
_warn_lock = threading.Lock()

T = TypeVar("T")


def _warn(operation: str, exc: Exception) -> None:
    global _warned_at
    now = time.monotonic()
    with _warn_lock:
        if now - _warned_at < _WARN_EVERY_SECONDS:
            return
        _warned_at = now
    logger.warning("the shared cache is unreachable (%s: %s); going on without it", operation, exc)


def _tolerant(fallback: Callable[..., Any]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run the command; when Redis does not answer, warn and return ``fallback(*args)``."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
            try:
                return method(self, *args, **kwargs)
            except _UNREACHABLE as exc:
                _warn(method.__name__, exc)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


class SharedCacheClient(RedisCacheClient):
    """Django's Redis client with short socket time-outs, two quick retries on a fresh
    connection, and the fall-backs above."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        options.setdefault("socket_connect_timeout", 1.0)
        options.setdefault("socket_timeout", 2.0)
        options.setdefault("retry", Retry(ExponentialBackoff(cap=0.25, base=0.02), 2))
        super().__init__(servers, **options)

    @_tolerant(lambda key, value, timeout: False)
    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return bool(super().add(key, value, timeout))

    @_tolerant(lambda key, default: default)
    def get(self, key: Any, default: Any) -> Any:
        return super().get(key, default)

    @_tolerant(lambda key, value, timeout: None)
    def set(self, key: Any, value: Any, timeout: Any) -> None:
        super().set(key, value, timeout)

    @_tolerant(lambda key, timeout: False)
    def touch(self, key: Any, timeout: Any) -> bool:
        return bool(super().touch(key, timeout))

    @_tolerant(lambda key: False)
    def delete(self, key: Any) -> bool:
        return bool(super().delete(key))

    @_tolerant(lambda keys: {})
    def get_many(self, keys: Any) -> dict[Any, Any]:
        return dict(super().get_many(keys))

    @_tolerant(lambda key: False)
    def has_key(self, key: Any) -> bool:
        return bool(super().has_key(key))

    @_tolerant(lambda key, delta: delta)
    def incr(self, key: Any, delta: int) -> int:
        """Unreachable, a count starts again: it reads as its first step."""
        return int(super().incr(key, delta))

    @_tolerant(lambda data, timeout: None)
    def set_many(self, data: Any, timeout: Any) -> None:
        super().set_many(data, timeout)

    @_tolerant(lambda keys: None)
    def delete_many(self, keys: Any) -> None:
        super().delete_many(keys)

    @_tolerant(lambda: False)
    def clear(self) -> bool:
        return bool(super().clear())


class SharedCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with :class:`SharedCacheClient`."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedCacheClient
