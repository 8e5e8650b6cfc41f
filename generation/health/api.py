"""``GET /api/v1/providers/health``: every provider's state and figures, from real traffic.

Anyone signed in gets the state, the reason, the figures and the last error's kind and time;
staff also get the last error's message, the circuit and the last listing check."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema

from aura_site.api_errors import errors
from generation.health.selectors import ProviderHealth, Window, providers_health

router = Router(tags=["providers"])


class WindowOut(Schema):
    calls: int
    failures: int
    rejected: int
    error_rate: float | None
    p50_ms: int | None
    p95_ms: int | None
    ttft_p50_ms: int | None
    ttft_p95_ms: int | None


class LastErrorOut(Schema):
    kind: str
    at: datetime
    message: str | None
    """Staff only (null otherwise)."""


class CircuitOut(Schema):
    state: str
    failures: int
    reopens_at: datetime | None


class CheckOut(Schema):
    ok: bool
    kind: str
    message: str
    at: datetime
    latency_ms: int | None


class ProviderHealthOut(Schema):
    name: str
    label: str
    family: Literal["llm", "video"]
    state: Literal["not_set_up", "healthy", "degraded", "circuit_open", "unreachable", "no_traffic"]
    state_label: str
    reason: str
    configured: bool
    last_hour: WindowOut
    last_day: WindowOut
    last_ok_at: datetime | None
    last_error: LastErrorOut | None
    circuit: CircuitOut | None
    """Staff only, for a family with a circuit breaker."""
    check: CheckOut | None
    """Staff only: the last free listing call."""


def _window(window: Window) -> dict[str, Any]:
    return {
        "calls": window.calls,
        "failures": window.failures,
        "rejected": window.rejected,
        "error_rate": window.error_rate,
        "p50_ms": window.p50_ms,
        "p95_ms": window.p95_ms,
        "ttft_p50_ms": window.ttft_p50_ms,
        "ttft_p95_ms": window.ttft_p95_ms,
    }


def health_out(item: ProviderHealth, *, staff: bool) -> dict[str, Any]:
    facts = item.facts
    error = item.last_error
    check = item.check
    return {
        "name": item.alias,
        "label": item.label,
        "family": item.family,
        "state": item.state,
        "state_label": item.state_label,
        "reason": item.reason,
        "configured": facts.configured,
        "last_hour": _window(item.hour),
        "last_day": _window(item.day),
        "last_ok_at": item.last_ok_at,
        "last_error": None
        if error is None
        else {"kind": error.kind, "at": error.at, "message": error.message if staff else None},
        "circuit": None
        if not staff or facts.circuit is None
        else {
            "state": facts.circuit,
            "failures": facts.circuit_failures,
            "reopens_at": item.reopens_at,
        },
        "check": None
        if not staff or check is None
        else {
            "ok": check.ok,
            "kind": check.kind,
            "message": check.message,
            "at": check.at,
            "latency_ms": check.latency_ms,
        },
    }


@router.get(
    "/providers/health",
    response={200: list[ProviderHealthOut], **errors()},
    summary="Provider health from real traffic",
)
def providers_health_list(request: HttpRequest) -> list[dict[str, Any]]:
    """Every LLM and video provider: its state (``not_set_up``, ``healthy``, ``degraded``,
    ``circuit_open``, ``unreachable``, ``no_traffic``), calls, failures, error rate and latency
    p50 / p95 (whole call and time to first token, in ms) over the last hour and day, and the
    last error. Staff also see the last error's message, the circuit and the listing check."""
    user = request.auth  # type: ignore[attr-defined]
    staff = bool(getattr(user, "is_staff", False))
    return [health_out(item, staff=staff) for item in providers_health()]
