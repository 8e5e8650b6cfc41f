"""Each provider's health now, from its recorded calls, its circuit and its last listing check.

Public API::

    providers_health(family=None) -> list[ProviderHealth]        # sync; every registered family
    await aproviders_health(family=None)
    health_by_alias(family) -> dict[str, ProviderHealth]          # for a picker's badges

The state, first rule that applies:

1. **not set up**: the provider is not configured;
2. **circuit open**: its circuit breaker is open (calls are skipped until ``reopens_at``);
3. **unreachable**: the newest thing known about it (a call or the listing check, in the last
   day) is a failure to reach it: a listing check that failed, or a call that failed with
   ``network``, ``timeout`` or ``auth``;
4. **degraded**: its circuit is half-open, or calls failed in the last 15 minutes and either
   at least 20 % of them failed or the newest call failed;
5. **healthy**: a call or a listing check succeeded in the last day (or it needs no network);
6. **no traffic yet**: set up, but nothing is known about it in the last day.

Figures cover the last hour and the last day: calls, failures (``rejected`` calls, refused for
the request itself, are counted apart and are not failures), the error rate, and latency p50 /
p95 of successful calls, whole call and time to first token, estimated from the buckets'
histograms (linear within a bin; a value past the last bound shows as that bound).

Before reading, the listing checks that are due are made (``checks``), when enabled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.db.models import Max, Sum
from django.utils import timezone

from generation.health.checks import checks_run
from generation.health.models import LATENCY_BOUNDS_MS, ProviderCheck, ProviderMinute
from generation.health.sources import ProviderFacts, health_sources

NOT_SET_UP = "not_set_up"
HEALTHY = "healthy"
DEGRADED = "degraded"
CIRCUIT_OPEN = "circuit_open"
UNREACHABLE = "unreachable"
NO_TRAFFIC = "no_traffic"

STATE_LABELS = {
    NOT_SET_UP: "not set up",
    HEALTHY: "healthy",
    DEGRADED: "degraded",
    CIRCUIT_OPEN: "circuit open",
    UNREACHABLE: "unreachable",
    NO_TRAFFIC: "no traffic yet",
}
STATE_TONES = {
    NOT_SET_UP: "muted",
    HEALTHY: "ok",
    DEGRADED: "warn",
    CIRCUIT_OPEN: "bad",
    UNREACHABLE: "bad",
    NO_TRAFFIC: "muted",
}

CIRCUIT_LABELS = {"closed": "closed", "open": "open", "half_open": "half-open"}

RECENT = timedelta(minutes=15)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DEGRADED_RATE = 0.2
REACH_KINDS = frozenset({"network", "timeout", "auth"})

_TOTAL_BINS = [f"total_le_{b}" for b in LATENCY_BOUNDS_MS] + ["total_over"]
_TTFT_BINS = [f"ttft_le_{b}" for b in LATENCY_BOUNDS_MS] + ["ttft_over"]


def percentile(counts: Sequence[int], q: float) -> int | None:
    """The ``q`` quantile (0 to 1) of a histogram over ``LATENCY_BOUNDS_MS`` plus an overflow bin,
    in ms; None without samples."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for index, count in enumerate(counts):
        if index >= len(LATENCY_BOUNDS_MS):
            return LATENCY_BOUNDS_MS[-1]
        upper = float(LATENCY_BOUNDS_MS[index])
        if count and seen + count >= rank:
            return round(lower + (upper - lower) * (rank - seen) / count)
        seen += count
        lower = upper
    return LATENCY_BOUNDS_MS[-1]


@dataclass(frozen=True, slots=True)
class Window:
    calls: int = 0
    failures: int = 0
    rejected: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None
    ttft_p50_ms: int | None = None
    ttft_p95_ms: int | None = None

    @property
    def error_rate(self) -> float | None:
        """Failures per call (None without calls)."""
        return self.failures / self.calls if self.calls else None

    @property
    def error_percent(self) -> str:
        rate = self.error_rate
        if rate is None:
            return "—"
        percent = rate * 100
        return f"{percent:.0f} %" if percent >= 10 or percent == 0 else f"{percent:.1f} %"


@dataclass(frozen=True, slots=True)
class LastError:
    kind: str
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    kind: str
    message: str
    at: datetime
    latency_ms: int | None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    facts: ProviderFacts
    state: str
    reason: str
    hour: Window
    day: Window
    last_ok_at: datetime | None
    last_error: LastError | None
    check: CheckResult | None

    @property
    def alias(self) -> str:
        return self.facts.alias

    @property
    def label(self) -> str:
        return self.facts.label

    @property
    def family(self) -> str:
        return self.facts.family

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def tone(self) -> str:
        return STATE_TONES[self.state]

    @property
    def reopens_at(self) -> datetime | None:
        return self.facts.reopens_at if self.state == CIRCUIT_OPEN else None

    @property
    def has_ttft(self) -> bool:
        return self.day.ttft_p50_ms is not None

    @property
    def has_listing(self) -> bool:
        return self.facts.listing is not None

    @property
    def windows(self) -> tuple[tuple[str, Window], ...]:
        return (("Last hour", self.hour), ("Last day", self.day))

    @property
    def circuit_label(self) -> str:
        return CIRCUIT_LABELS.get(self.facts.circuit or "", "")


@dataclass(slots=True)
class _Figures:
    hour: Window
    day: Window
    recent: Window
    last_ok_at: datetime | None
    last_error: LastError | None


def _window(row: Mapping[str, Any]) -> Window:
    total = [int(row[f"n_{name}"] or 0) for name in _TOTAL_BINS]
    ttft = [int(row[f"n_{name}"] or 0) for name in _TTFT_BINS]
    return Window(
        calls=int(row["n_calls"] or 0),
        failures=int(row["n_failures"] or 0),
        rejected=int(row["n_rejected"] or 0),
        p50_ms=percentile(total, 0.5),
        p95_ms=percentile(total, 0.95),
        ttft_p50_ms=percentile(ttft, 0.5),
        ttft_p95_ms=percentile(ttft, 0.95),
    )


def _windows(since: datetime) -> dict[tuple[str, str], tuple[Window, datetime | None]]:
    sums = {f"n_{name}": Sum(name) for name in ("calls", "failures", "rejected")}
    sums.update({f"n_{name}": Sum(name) for name in (*_TOTAL_BINS, *_TTFT_BINS)})
    rows = (
        ProviderMinute.objects.filter(minute__gte=since)
        .values("family", "provider")
        .order_by()
        .annotate(**sums, newest_ok=Max("last_ok_at"))
    )
    return {(row["family"], row["provider"]): (_window(row), row["newest_ok"]) for row in rows}


def _last_errors(since: datetime) -> dict[tuple[str, str], LastError]:
    found: dict[tuple[str, str], LastError] = {}
    rows = (
        ProviderMinute.objects.filter(minute__gte=since, last_error_at__isnull=False)
        .order_by("-last_error_at")
        .values_list("family", "provider", "last_error_kind", "last_error_message", "last_error_at")
    )
    for family, provider, kind, message, at in rows:
        if at is not None:
            found.setdefault((family, provider), LastError(kind, message, at))
    return found


def _figures(now: datetime) -> dict[tuple[str, str], _Figures]:
    start = now.replace(second=0, microsecond=0)
    day = _windows(start - DAY)
    hour = _windows(start - HOUR)
    recent = _windows(start - RECENT)
    errors = _last_errors(start - DAY)
    return {
        key: _Figures(
            hour=hour.get(key, (Window(), None))[0],
            day=window,
            recent=recent.get(key, (Window(), None))[0],
            last_ok_at=last_ok,
            last_error=errors.get(key),
        )
        for key, (window, last_ok) in day.items()
    }


def _checks() -> dict[tuple[str, str], CheckResult]:
    return {
        (row.family, row.provider): CheckResult(
            ok=bool(row.ok),
            kind=row.error_kind,
            message=row.message,
            at=row.checked_at,
            latency_ms=row.latency_ms,
        )
        for row in ProviderCheck.objects.filter(checked_at__isnull=False, ok__isnull=False)
        if row.checked_at is not None
    }


def state_of(
    facts: ProviderFacts,
    recent: Window,
    last_ok_at: datetime | None,
    last_error: LastError | None,
    check: CheckResult | None,
    now: datetime,
) -> tuple[str, str]:
    """The state (see the module docstring) and a short reason for it."""
    if not facts.configured:
        return NOT_SET_UP, facts.how_to_configure or "Not configured."
    if facts.circuit == "open":
        return CIRCUIT_OPEN, (
            f"{facts.circuit_failures or 'Several'} calls failed in a row; calls are skipped "
            "until the circuit reopens."
        )
    since = now - DAY
    evidence: list[tuple[datetime, bool, str, str]] = []
    if last_ok_at is not None and last_ok_at >= since:
        evidence.append((last_ok_at, True, "", "call"))
    if last_error is not None and last_error.at >= since:
        evidence.append((last_error.at, False, last_error.kind, "call"))
    if check is not None and check.at >= since:
        evidence.append((check.at, check.ok, check.kind, "check"))
    newest = max(evidence, key=lambda item: item[0]) if evidence else None
    if newest is not None and not newest[1]:
        _at, _ok, kind, source = newest
        if source == "check":
            return UNREACHABLE, f"The listing check failed ({kind})."
        if kind in REACH_KINDS:
            return UNREACHABLE, f"The latest call failed ({kind})."
    if facts.circuit == "half_open":
        return DEGRADED, "The circuit is half-open: the next call tests the provider."
    newest_failed = newest is not None and not newest[1]
    rate = recent.error_rate
    if recent.failures and (newest_failed or (rate is not None and rate >= DEGRADED_RATE)):
        return DEGRADED, (
            f"{recent.failures} of {recent.calls} calls failed in the last 15 minutes."
        )
    if not facts.needs_network:
        return HEALTHY, "Runs inside the studio."
    if newest is not None:
        return HEALTHY, "Answering." if newest[3] == "call" else "The listing check answered."
    return NO_TRAFFIC, "Set up; no call or check in the last day."


async def _facts(family: str | None) -> list[ProviderFacts]:
    sources = health_sources()
    chosen = [source for name, source in sources.items() if family in (None, name)]
    lists = await asyncio.gather(*(source() for source in chosen))
    return [facts for found in lists for facts in found]


def _read(now: datetime) -> tuple[dict[tuple[str, str], _Figures], dict[Any, CheckResult]]:
    return _figures(now), _checks()


async def aproviders_health(family: str | None = None) -> list[ProviderHealth]:
    providers = await _facts(family)
    await checks_run(providers)
    now = timezone.now()
    figures, checks = await sync_to_async(_read)(now)
    empty = _Figures(Window(), Window(), Window(), None, None)
    health = []
    for facts in providers:
        key = (facts.family, facts.alias)
        found = figures.get(key, empty)
        check = checks.get(key)
        state, reason = state_of(
            facts, found.recent, found.last_ok_at, found.last_error, check, now
        )
        health.append(
            ProviderHealth(
                facts=facts,
                state=state,
                reason=reason,
                hour=found.hour,
                day=found.day,
                last_ok_at=found.last_ok_at,
                last_error=found.last_error,
                check=check,
            )
        )
    return health


def providers_health(family: str | None = None) -> list[ProviderHealth]:
    return async_to_sync(aproviders_health)(family)


def health_by_alias(family: str) -> dict[str, ProviderHealth]:
    return {item.alias: item for item in providers_health(family)}
