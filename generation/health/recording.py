"""Counting real provider calls where they happen: one atomic update of the call's minute bucket.

Public API::

    call_record(family="llm", provider="openai", call="generate", ok=True,
                latency_ms=840, ttft_ms=210)                       # sync
    await acall_record(...)                                         # the same, from async code
    call_record(..., ok=False, error_kind="network", message=str(exc),
                secrets=secrets_of(provider.options))
    redact(message, secrets) -> str

A call is ``ok``, a ``failure`` (its kind says something about the provider: network, timeout,
auth, rate_limit, overloaded, unavailable, ...) or ``rejected`` (``bad_request`` or
``content_filter``: about the request, not the provider). Latency is counted for successful
calls only, into the bins of ``models.LATENCY_BOUNDS_MS``. An error's message is kept with its
kind, stripped of the provider's keys and anything that looks like a credential.

Recording never fails the call it describes: a database error is logged and dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from generation.costs.crypto import SECRET_OPTION, mask_secret
from generation.health.models import LATENCY_BOUNDS_MS, ProviderMinute

logger = logging.getLogger(__name__)

CALL_GENERATE = "generate"
CALL_SUBMIT = "submit"
CALL_POLL = "poll"

REJECTED_KINDS = frozenset({"bad_request", "content_filter"})
"""Error kinds that are about the request, not the provider's health (as for the circuit)."""

RETENTION = timedelta(days=2)
"""Buckets older than this are deleted (the figures look back one day)."""

MESSAGE_LIMIT = 500

_CREDENTIAL_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?i)([?&;](?:api[-_]?key|key|token|access_token|sig|signature)=)[^&\s\"']+"),
    re.compile(r"\b(?:sk|rk|pk|hf|sess|key|tok)[-_][A-Za-z0-9_-]{12,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),
)


def bin_field(prefix: str, ms: float) -> str:
    """The histogram column a latency of ``ms`` counts in (``total_le_500``, ``ttft_over``)."""
    for bound in LATENCY_BOUNDS_MS:
        if ms <= bound:
            return f"{prefix}_le_{bound}"
    return f"{prefix}_over"


def secrets_of(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The values of a provider's options that are credentials (``api_key``, ``token``...)."""
    return tuple(
        str(value)
        for name, value in options.items()
        if SECRET_OPTION.search(str(name)) and isinstance(value, str) and len(value) >= 6
    )


def redact(message: str, secrets: Iterable[str] = ()) -> str:
    """``message`` on one line, at most ``MESSAGE_LIMIT`` characters, with each of ``secrets``
    masked and anything shaped like a credential (a bearer token, a ``key=`` parameter, an
    ``sk-…`` or ``hf_…`` key) cut out."""
    text = " ".join(str(message).split())
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mask_secret(secret))
    bearer, param, prefixed, google = _CREDENTIAL_PATTERNS
    text = bearer.sub(lambda m: f"{m.group(1)} …", text)
    text = param.sub(lambda m: f"{m.group(1)}…", text)
    text = prefixed.sub(lambda m: mask_secret(m.group(0)), text)
    text = google.sub("AIza…", text)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def call_record(
    *,
    family: str,
    provider: str,
    call: str,
    ok: bool,
    latency_ms: float | None = None,
    ttft_ms: float | None = None,
    error_kind: str = "",
    message: str = "",
    secrets: Iterable[str] = (),
    at: datetime | None = None,
) -> None:
    """Count one call in its minute's bucket (``at``: when it ended, now by default)."""
    try:
        _record(
            family=family,
            provider=provider,
            call=call,
            ok=ok,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            error_kind=error_kind,
            message=message,
            secrets=secrets,
            at=at or timezone.now(),
        )
    except Exception:
        logger.warning("could not record a %s call to %s", call, provider, exc_info=True)


acall_record = sync_to_async(call_record)


def _record(
    *,
    family: str,
    provider: str,
    call: str,
    ok: bool,
    latency_ms: float | None,
    ttft_ms: float | None,
    error_kind: str,
    message: str,
    secrets: Iterable[str],
    at: datetime,
) -> None:
    counts: list[str] = ["calls"]
    values: dict[str, Any] = {}
    if ok:
        values["last_ok_at"] = at
        if latency_ms is not None:
            counts.append(bin_field("total", latency_ms))
        if ttft_ms is not None:
            counts.append(bin_field("ttft", ttft_ms))
    elif error_kind in REJECTED_KINDS:
        counts.append("rejected")
    else:
        counts.append("failures")
        values.update(
            last_error_at=at,
            last_error_kind=(error_kind or "unavailable")[:40],
            last_error_message=redact(message, secrets),
        )
    key = {
        "family": family,
        "provider": provider[:40],
        "call": call[:12],
        "minute": at.replace(second=0, microsecond=0),
    }
    increments = {name: F(name) + 1 for name in counts}
    if ProviderMinute.objects.filter(**key).update(**increments, **values):
        return
    try:
        with transaction.atomic():
            ProviderMinute.objects.create(**key, **{name: 1 for name in counts}, **values)
    except IntegrityError:
        ProviderMinute.objects.filter(**key).update(**increments, **values)
        return
    ProviderMinute.objects.filter(
        family=family, provider=key["provider"], call=key["call"], minute__lt=at - RETENTION
    ).delete()
