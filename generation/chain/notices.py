"""What a finished call along a chain tells the person who started it, when it did not go as they
chose: the notice at the top of a run and in its ``done`` event.

``route_notice`` answers ``{"code", "codes", "message"}`` or None. Codes, most important first:

- ``provider_changed``: a provider was chosen by name and the text came from another one (the
  message says why the chosen one was left);
- ``template_output``: the text is RuleBased's template output, not a language model's;
- ``cost_above_expected``: the run cost noticeably more than the expected cost shown before
  Start (a pricier fallback, revisions, a longer answer).

``code`` is the first of ``codes``; ``message`` is one sentence per code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from aura_site.money import format_usd
from generation.providers.registry import AUTO, RULEBASED, aall_providers

__all__ = ["COST_TOLERANCE", "aroute_notice", "route_notice"]

COST_TOLERANCE = Decimal("0.25")
"""A run counts as more expensive than expected above the expected cost plus this share."""
COST_SLACK = Decimal("0.000001")
"""And by at least this much (a sub-cent rounding of an estimate is no news)."""

_WHY = {
    "quota": "was over a spending budget",
    "budget": "was over a spending budget",
    "cost_ceiling": "was over your cost ceiling",
    "rate_limit": "was rate-limited",
    "auth": "refused its key",
    "overloaded": "was overloaded",
    "bad_request": "refused the request",
    "content_filter": "blocked the request (content filter)",
    "timeout": "did not answer in time",
    "network": "could not be reached",
    "truncated": "cut its answer short",
}


def _why(attempts: Sequence[Mapping[str, Any]], provider: str) -> str:
    for attempt in reversed(attempts):
        if attempt.get("provider") != provider or attempt.get("outcome") == "succeeded":
            continue
        message = str(attempt.get("message") or "")
        if "circuit open" in message:
            return "was failing repeatedly (circuit open)"
        return _WHY.get(str(attempt.get("error_kind") or ""), "was unavailable")
    return "was unavailable"


def route_notice(
    *,
    requested: str,
    provider: str,
    cost: Decimal,
    expected_cost: Decimal,
    attempts: Sequence[Mapping[str, Any]],
    labels: Mapping[str, str],
) -> dict[str, Any] | None:
    """The notice of a call chosen as ``requested`` (``auto`` or a provider) that was answered
    by ``provider`` for ``cost`` against ``expected_cost``, or None when all went as chosen.
    ``attempts`` are the call's attempts as recorded (``provider``, ``outcome``,
    ``error_kind``, ``message``); ``labels`` names providers for people."""
    requested = (requested or AUTO).strip().lower()

    def label(alias: str) -> str:
        return labels.get(alias) or alias

    codes: list[str] = []
    sentences: list[str] = []
    template = provider == RULEBASED and requested != RULEBASED
    what = (
        "this is template output from RuleBased (offline), not a language model's writing"
        if template
        else f"{label(provider)} wrote this"
    )
    if requested != AUTO and provider and provider != requested:
        codes.append("provider_changed")
        sentences.append(
            f"You chose {label(requested)}, but {label(requested)} "
            f"{_why(attempts, requested)}, so {what}."
        )
    elif template:
        sentences.append(f"No language model answered, so {what}.")
    if template:
        codes.append("template_output")
    if expected_cost >= 0 and cost > expected_cost * (1 + COST_TOLERANCE) + COST_SLACK:
        codes.append("cost_above_expected")
        sentences.append(
            f"It cost {format_usd(cost)}, more than the {format_usd(expected_cost)} expected "
            "before Start."
        )
    if not codes:
        return None
    return {"code": codes[0], "codes": codes, "message": " ".join(sentences)}


async def aroute_notice(
    *,
    requested: str,
    provider: str,
    cost: Decimal,
    expected_cost: Decimal,
    attempts: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    """``route_notice`` with the providers' own labels."""
    labels = {p.alias: p.label or p.alias for p in await aall_providers()}
    return route_notice(
        requested=requested,
        provider=provider,
        cost=cost,
        expected_cost=expected_cost,
        attempts=attempts,
        labels=labels,
    )
