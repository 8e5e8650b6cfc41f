"""A circuit breaker per provider, its state in Django's cache so that every process shares it.

closed: calls go through; each failure that says the provider is unwell counts, a success resets
the count. ``failure_threshold`` consecutive failures open the circuit: calls are skipped for
``cooldown`` seconds. Then it is half-open: one caller (across processes, by an atomic
``cache.add``) gets to probe; its success closes the circuit, its failure opens it again.

With Redis configured (``REDIS_URL``) the cache is Redis, so workers and web processes agree;
with the embedded default (local memory) the state is per process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.core.cache import cache

from generation.providers.base import ErrorKind

CircuitState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class CircuitSnapshot:
    """What the provider health page shows of a circuit."""

    state: CircuitState
    failures: int
    """Failures counted in a row (reset by a success)."""
    reopens_at: float | None
    """When an open circuit lets a probe through (a Unix time); None when not open."""


#: Kinds of failure that are about the request, not the provider's health.
NOT_COUNTED = frozenset({ErrorKind.BAD_REQUEST, ErrorKind.CONTENT_FILTER})

_PREFIX = "aura:circuit:"


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    failure_threshold: int = 5
    cooldown: float = 30.0

    @classmethod
    def from_settings(cls) -> CircuitBreaker:
        return cls(
            failure_threshold=settings.AURA_CIRCUIT_FAILURES,
            cooldown=settings.AURA_CIRCUIT_COOLDOWN_SECONDS,
        )

    def _keys(self, alias: str) -> tuple[str, str, str]:
        base = f"{_PREFIX}{alias}"
        return f"{base}:failures", f"{base}:opened_at", f"{base}:probe"

    async def state(self, alias: str) -> CircuitState:
        _failures, opened_key, _probe = self._keys(alias)
        opened_at = await cache.aget(opened_key)
        if opened_at is None:
            return "closed"
        if time.time() < float(opened_at) + self.cooldown:
            return "open"
        return "half_open"

    async def snapshot(self, alias: str) -> CircuitSnapshot:
        failures_key, opened_key, _probe = self._keys(alias)
        found = await cache.aget_many([failures_key, opened_key])
        opened_at = found.get(opened_key)
        try:
            failures = int(found.get(failures_key) or 0)
        except (TypeError, ValueError):
            failures = 0
        if opened_at is None:
            return CircuitSnapshot("closed", failures, None)
        reopens_at = float(opened_at) + self.cooldown
        if time.time() < reopens_at:
            return CircuitSnapshot("open", failures, reopens_at)
        return CircuitSnapshot("half_open", failures, None)

    async def allow(self, alias: str) -> bool:
        """Whether a call to ``alias`` may go ahead now (claims the probe when half-open)."""
        current = await self.state(alias)
        if current == "closed":
            return True
        if current == "open":
            return False
        _failures, _opened, probe_key = self._keys(alias)
        return bool(await cache.aadd(probe_key, 1, timeout=max(1, int(self.cooldown))))

    async def record_success(self, alias: str) -> None:
        await cache.adelete_many(list(self._keys(alias)))

    async def record_failure(self, alias: str, kind: ErrorKind) -> CircuitState:
        if kind in NOT_COUNTED:
            return await self.state(alias)
        failures_key, opened_key, probe_key = self._keys(alias)
        previous = await self.state(alias)
        if previous == "half_open":
            await cache.aset(opened_key, time.time(), timeout=None)
            await cache.adelete(probe_key)
            return "open"
        await cache.aadd(failures_key, 0, timeout=None)
        try:
            failures = await cache.aincr(failures_key)
        except ValueError:
            await cache.aset(failures_key, 1, timeout=None)
            failures = 1
        if failures >= self.failure_threshold:
            await cache.aset(opened_key, time.time(), timeout=None)
            await cache.adelete(probe_key)
            return "open"
        return previous

    async def reset(self, alias: str) -> None:
        await self.record_success(alias)
