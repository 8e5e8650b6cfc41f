"""The free listing call, at most once per ``AURA_PROVIDER_CHECK_SECONDS`` per provider.

It tells "unreachable" from "no traffic yet" for a provider that is set up but has had no
calls. Never a billed call: each family hands over its provider's model-listing or key-check
GET (the same call as the admin's "Test key"). Off with ``AURA_PROVIDER_CHECKS=false``.

The interval holds across processes: a check is claimed by an atomic conditional update of the
provider's ``ProviderCheck`` row (or by creating it), and only the claimer calls. Each call has
``AURA_PROVIDER_CHECK_TIMEOUT_SECONDS`` to answer, so a page waits at most that long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from generation.health.models import ProviderCheck
from generation.health.recording import redact
from generation.health.sources import ProviderFacts

logger = logging.getLogger(__name__)


def checks_enabled() -> bool:
    return bool(settings.AURA_PROVIDER_CHECKS)


def check_claim(family: str, provider: str, *, now: datetime | None = None) -> bool:
    """Whether this caller may make ``provider``'s listing call now (and has claimed it)."""
    now = now or timezone.now()
    interval = timedelta(seconds=float(settings.AURA_PROVIDER_CHECK_SECONDS))
    claimed = ProviderCheck.objects.filter(
        family=family, provider=provider, started_at__lte=now - interval
    ).update(started_at=now)
    if claimed:
        return True
    try:
        with transaction.atomic():
            ProviderCheck.objects.create(family=family, provider=provider, started_at=now)
    except IntegrityError:
        return False
    return True


def check_store(
    family: str,
    provider: str,
    *,
    ok: bool,
    latency_ms: int,
    error_kind: str = "",
    message: str = "",
) -> None:
    ProviderCheck.objects.filter(family=family, provider=provider).update(
        checked_at=timezone.now(),
        ok=ok,
        latency_ms=latency_ms,
        error_kind=error_kind[:40],
        message=message,
    )


_claim = sync_to_async(check_claim)
_store = sync_to_async(check_store)


async def _check(facts: ProviderFacts, limit: float) -> None:
    assert facts.listing is not None
    began = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            await facts.listing()
    except TimeoutError:
        ok, kind, message = False, "timeout", f"no answer within {limit:g} s"
    except Exception as exc:
        found = getattr(exc, "kind", "")
        ok, kind = False, str(getattr(found, "value", found) or "unavailable")
        message = str(getattr(exc, "message", "") or exc or type(exc).__name__)
    else:
        ok, kind, message = True, "", ""
    await _store(
        facts.family,
        facts.alias,
        ok=ok,
        latency_ms=int((time.monotonic() - began) * 1000),
        error_kind=kind,
        message=redact(message, facts.secrets),
    )


async def checks_run(providers: Sequence[ProviderFacts]) -> int:
    """Make the listing calls that are due, concurrently; how many were made."""
    if not checks_enabled():
        return 0
    due = []
    for facts in providers:
        if facts.configured and facts.listing is not None:
            try:
                if await _claim(facts.family, facts.alias):
                    due.append(facts)
            except Exception:
                logger.warning("could not claim the check of %s", facts.alias, exc_info=True)
    limit = float(settings.AURA_PROVIDER_CHECK_TIMEOUT_SECONDS)
    results = await asyncio.gather(*(_check(f, limit) for f in due), return_exceptions=True)
    for facts, result in zip(due, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("the check of %s could not be stored: %s", facts.alias, result)
    return len(due)
