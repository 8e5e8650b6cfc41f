"""Streaming along a chain of providers: retries, fallback, circuit breaking, attempt records.

Public API::

    stream = stream_with_fallback(chain, request, ledger=Ledger(user_id, project_id, run_id, part),
                                  retry=RetryPolicy(...), streaming=True)
    async with stream:                      # closes the upstream response on exit / cancel
        async for event in stream:          # AttemptStarted | ProviderSwitch | TextDelta | Finish
            ...
    stream.attempts      # list[Attempt], every provider tried and why it ended
    stream.result        # FallbackResult of the successful attempt (None until Finish)

Rules. Retryable errors are retried with exponential backoff and jitter, honouring
``retry_after`` (capped), then the next provider is tried: all of it only before the attempt
has yielded any text. Once text was yielded, a failure is raised as the attempt's
``ProviderError`` (the caller keeps the text; two models' outputs are never spliced). Auth,
quota and bad-request errors are not retried. A provider whose circuit is open is skipped.
When every provider fails, ``ProviderError(UNAVAILABLE)`` lists each attempt.

Cost ceiling: with ``max_cost``, a fallback (any provider after the first) whose expected cost
(its prompt and every output token it may write, at its price) is above the ceiling is skipped
before any request is made (outcome ``skipped``, kind ``cost_ceiling``: "over your cost
ceiling"), so a chain stops rather than overspend.

Switches: ``ProviderSwitch.skipped`` names every provider passed over since the previous attempt
that ran, in chain order, each with a short code and reason: skipped attempts (``budget``,
``cost_ceiling``, ``circuit_open``), failed ones (their error kind) and the providers the policy
left out because they are not set up (``passed_over``, ``not_configured``). Before a retry the
stream yields ``Retrying`` (the provider, why, and the wait), so a viewer sees a rate limit live.

Budgets: with a ``Ledger``, each attempt is first checked against the spending budgets that
cover its user, project and provider (``generation.costs.budgets``), with the most it can
cost (estimated input tokens, all of ``max_tokens``). An attempt that would go over a budget
is skipped before any request is made (outcome ``skipped``, kind ``quota``, the budget named
in its message) and the chain moves on; a budget never refuses a free provider. When every
attempt was refused by a budget, the final error is ``ProviderError(QUOTA)`` naming them.

With ``streaming=False`` each attempt makes one non-streaming call (``provider.complete``) and
yields its whole text as one ``TextDelta``: the same chain, retries, circuit breaker, budget
checks and cost records (the rollback switch ``AURA_STREAMING_ENABLED=false`` takes this path).

Every call to a provider (each retry is one) is counted for the provider health figures
(``generation.health``): its outcome and error kind, and for a success its latency and time
to first text.

Each attempt that made a call writes one ``CostRecord`` when a ``Ledger`` is given (retries
included in the same record), also when it failed or was cancelled: then with the provider's
counts so far, or estimates (``reported=False``) from the text it produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any

from aura_site.db import db_sync_to_async
from generation.chain.circuit import CircuitBreaker
from generation.chain.policy import PassedOver
from generation.costs.budgets import (
    BudgetExceeded,
    abudget_reserve_call,
    ahold_release,
    call_expected_cost,
    usd,
)
from generation.costs.services import acost_record_create, aprice_for, cost_from_quote
from generation.costs.tokens import estimate_tokens
from generation.health.recording import CALL_GENERATE, acall_record, secrets_of
from generation.providers.base import (
    CompletionRequest,
    ErrorKind,
    Finish,
    LLMProvider,
    ProviderError,
    StreamMeter,
    TextDelta,
    Usage,
)
from generation.providers.registry import aget_provider
from generation.providers.transport import prompt_estimate, short

logger = logging.getLogger(__name__)

NEVER_RETRIED = frozenset({ErrorKind.AUTH, ErrorKind.QUOTA, ErrorKind.BAD_REQUEST})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries per provider (after its first try), before moving on to the next one."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 20.0
    """A provider asking to wait longer than this is left for the next one at once."""
    jitter: float = 0.5

    def delay(self, retry: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * (2**retry))
        backoff *= 1 + random.uniform(0, self.jitter)
        if retry_after is not None:
            return min(max(backoff, retry_after), self.retry_after_cap)
        return backoff


@dataclass(frozen=True, slots=True)
class Ledger:
    """Who pays, and for which run and part of it: with it, every attempt writes a CostRecord."""

    user_id: Any = None
    project_id: Any = None
    run_id: str = ""
    part: str = ""
    """The run part the calls belong to (``main``, an agent's key, ...)."""
    correlation_id: str = ""


async def budget_hold(
    ledger: Ledger, alias: str, model: str, request: CompletionRequest, attempt: int = 1
) -> tuple[int | None, ProviderError | None]:
    """Hold the upper bound of a call of ``request`` to ``alias``/``model`` paid by ``ledger``
    against its spending budgets before it is made: the hold's id (None when no budget covers
    it), or why the budgets refuse it. A check that cannot be made refuses the call: money is
    not spent on a guess."""
    try:
        _bound, hold = await abudget_reserve_call(
            user_id=ledger.user_id,
            project_id=ledger.project_id,
            provider=alias,
            model=model,
            input_tokens=prompt_estimate(request),
            max_output_tokens=request.max_tokens,
            run_id=ledger.run_id,
            part=ledger.part,
            attempt=attempt,
        )
    except BudgetExceeded as exc:
        return None, ProviderError(
            ErrorKind.QUOTA, exc.message, provider=exc.provider or alias, retryable=False
        )
    except Exception as exc:
        logger.exception("could not check the spending budgets for %s", alias)
        return None, ProviderError(
            ErrorKind.UNAVAILABLE,
            f"the spending budgets could not be checked ({type(exc).__name__})",
            provider=alias,
            retryable=False,
        )
    return hold, None


def chain_exhausted(reasons: Sequence[str], *, over_budget: bool) -> ProviderError:
    """The error that ends a chain none of whose providers answered; ``over_budget``: every
    one was refused by the spending budgets."""
    if over_budget:
        return ProviderError(
            ErrorKind.QUOTA,
            "no provider may be called within the spending budgets: " + "; ".join(reasons),
            retryable=False,
        )
    return ProviderError(
        ErrorKind.UNAVAILABLE,
        "no provider could answer: " + "; ".join(reasons),
        retryable=False,
    )


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    provider: str
    model: str
    number: int


@dataclass(frozen=True, slots=True)
class Skip:
    """A provider passed over on the way to the next attempt: ``code`` is short and stable
    (``budget``, ``cost_ceiling``, ``circuit_open``, ``not_configured``, or the error kind of a
    failed attempt), ``reason`` the sentence behind it."""

    provider: str
    code: str
    reason: str

    @property
    def label(self) -> str:
        return SKIP_LABELS.get(self.code, self.code.replace("_", " "))

    def as_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "code": self.code, "reason": self.reason}


SKIP_LABELS = {
    "budget": "budget",
    "cost_ceiling": "over your cost ceiling",
    "circuit_open": "circuit open",
    "not_configured": "not configured",
    ErrorKind.RATE_LIMIT.value: "rate-limited",
    ErrorKind.AUTH.value: "key refused",
    ErrorKind.OVERLOADED.value: "overloaded",
    ErrorKind.BAD_REQUEST.value: "request refused",
    ErrorKind.CONTENT_FILTER.value: "content filter",
    ErrorKind.TIMEOUT.value: "timed out",
    ErrorKind.NETWORK.value: "unreachable",
    ErrorKind.UNAVAILABLE.value: "unavailable",
    ErrorKind.TRUNCATED.value: "stream cut",
}


def route_summary(skipped: Sequence[Skip], to_provider: str) -> str:
    """``openai, anthropic: budget; azure: not configured → ollama``: consecutive providers
    passed over for the same reason named together, then where the chain landed."""
    groups: list[tuple[str, list[str]]] = []
    for skip in skipped:
        if groups and groups[-1][0] == skip.label:
            groups[-1][1].append(skip.provider)
        else:
            groups.append((skip.label, [skip.provider]))
    named = "; ".join(f"{', '.join(providers)}: {label}" for label, providers in groups)
    return f"{named} → {to_provider}" if named else to_provider


@dataclass(frozen=True, slots=True)
class ProviderSwitch:
    from_provider: str
    to_provider: str
    reason: str
    skipped: tuple[Skip, ...] = ()

    @property
    def summary(self) -> str:
        return route_summary(self.skipped, self.to_provider)


@dataclass(frozen=True, slots=True)
class Retrying:
    """The provider answered with a retryable error before any text; the chain waits
    ``delay`` seconds and asks it again (retry number ``retry``)."""

    provider: str
    label: str
    kind: str
    message: str
    delay: float
    retry: int


@dataclass(slots=True)
class Attempt:
    number: int
    provider: str
    model: str
    outcome: str = "running"
    """running, succeeded, failed, cancelled or skipped (circuit open, or over a budget)."""
    error_kind: str = ""
    message: str = ""
    retries: int = 0
    started_at: float = field(default_factory=time.time)
    ttft_ms: int | None = None
    duration_ms: int | None = None
    usage: Usage | None = None
    cost: Decimal = Decimal(0)
    text_chars: int = 0
    finish_reason: str = ""
    streaming: bool = True
    hold_id: int | None = None
    """The budget hold placed before the call, settled by its cost record."""
    price_assumed: bool = False
    """The model has no price of its own: its cost is at the provider's default price."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (money as a string)."""
        return {
            "number": self.number,
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "error_kind": self.error_kind,
            "message": self.message,
            "retries": self.retries,
            "started_at": self.started_at,
            "ttft_ms": self.ttft_ms,
            "duration_ms": self.duration_ms,
            "usage": None
            if self.usage is None
            else {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "reported": self.usage.reported,
            },
            "cost": format(self.cost, "f"),
            "finish_reason": self.finish_reason,
            "streaming": self.streaming,
            "price_assumed": self.price_assumed,
        }


@dataclass(frozen=True, slots=True)
class FallbackResult:
    provider: str
    model: str
    finish_reason: str
    usage: Usage
    cost: Decimal
    attempts: tuple[Attempt, ...]


FallbackEvent = AttemptStarted | ProviderSwitch | Retrying | TextDelta | Finish
ProviderLookup = Callable[[str], Awaitable[LLMProvider]]


async def _registry_lookup(alias: str) -> LLMProvider:
    return await aget_provider(alias)


async def _price_cost(provider: str, model: str, usage: Usage) -> tuple[Decimal, bool]:
    """What ``usage`` cost at the price in effect, and whether that price was assumed."""
    quote = await aprice_for(provider, model)
    return cost_from_quote(quote, usage.input_tokens, usage.output_tokens), quote.assumed


_acall_expected_cost = db_sync_to_async(call_expected_cost)


class FallbackStream:
    """The async iterator ``stream_with_fallback`` returns; see the module docstring."""

    def __init__(
        self,
        chain: Sequence[str],
        request: CompletionRequest,
        *,
        ledger: Ledger | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        providers: Mapping[str, LLMProvider] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        streaming: bool = True,
        first_attempt: int = 1,
        max_cost: Decimal | None = None,
        passed_over: Sequence[PassedOver] = (),
    ) -> None:
        if not chain:
            raise ValueError("the provider chain is empty")
        self.first_attempt = max(1, first_attempt)
        self.max_cost = max_cost
        self.passed_over = tuple(passed_over)
        self.chain = list(chain)
        self.request = request
        self.ledger = ledger
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker.from_settings()
        self._providers = dict(providers or {})
        self._sleep = sleep
        self.streaming = streaming
        self.attempts: list[Attempt] = []
        self.result: FallbackResult | None = None
        self._gen = self._run()

    def __aiter__(self) -> FallbackStream:
        return self

    def __anext__(self) -> Awaitable[FallbackEvent]:
        return self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    async def __aenter__(self) -> FallbackStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _next_number(self) -> int:
        return self.first_attempt + len(self.attempts)

    @property
    def current(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    async def _provider(self, alias: str) -> LLMProvider:
        provider = self._providers.get(alias)
        if provider is None:
            provider = await _registry_lookup(alias)
            self._providers[alias] = provider
        return provider

    async def _run(self) -> AsyncGenerator[FallbackEvent]:
        reasons: list[str] = []
        left: tuple[str, str] | None = None
        skipped: list[Skip] = []
        waiting = list(self.passed_over)

        def pass_over(before: str) -> None:
            for entry in [entry for entry in waiting if entry.before == before]:
                waiting.remove(entry)
                skipped.append(Skip(entry.provider, entry.code, entry.reason))

        def skip(attempt: Attempt, code: str) -> None:
            self.attempts.append(attempt)
            skipped.append(Skip(attempt.provider, code, attempt.message))

        for position, alias in enumerate(self.chain):
            pass_over(alias)
            try:
                provider = await self._provider(alias)
            except Exception as exc:
                attempt = Attempt(self._next_number(), alias, "", "failed", "bad_request", str(exc))
                skip(attempt, ErrorKind.BAD_REQUEST.value)
                reasons.append(f"{alias}: {exc}")
                left = (alias, str(exc))
                continue
            request = self.request
            if position > 0 and request.model:
                request = dataclasses.replace(request, model="")
            model = request.model or provider.default_model
            attempt = Attempt(self._next_number(), alias, model, streaming=self.streaming)
            if position > 0 and self.max_cost is not None:
                bound = await _acall_expected_cost(
                    alias, model, prompt_estimate(request), request.max_tokens
                )
                if bound > self.max_cost:
                    attempt.outcome = "skipped"
                    attempt.error_kind = "cost_ceiling"
                    attempt.message = (
                        f"over your cost ceiling: it may cost up to {usd(bound)} USD and the "
                        f"ceiling is {usd(self.max_cost)} USD"
                    )
                    skip(attempt, "cost_ceiling")
                    reasons.append(f"{alias}: {attempt.message}")
                    left = (alias, attempt.message)
                    continue
            attempt.hold_id, refused = await self._hold(alias, model, request, attempt.number)
            if refused is not None:
                attempt.outcome = "skipped"
                attempt.error_kind = refused.kind.value
                attempt.message = short(refused.message, 500)
                quota = refused.kind == ErrorKind.QUOTA
                skip(attempt, "budget" if quota else refused.kind.value)
                reason = f"{refused.kind.value}: {refused.message}"
                reasons.append(f"{alias}: {reason}")
                left = (alias, reason)
                continue
            if not await self.breaker.allow(alias):
                await ahold_release(attempt.hold_id)
                attempt.hold_id = None
                attempt.outcome = "skipped"
                attempt.error_kind = ErrorKind.UNAVAILABLE.value
                attempt.message = "skipped: it failed repeatedly (circuit open)"
                skip(attempt, "circuit_open")
                reasons.append(f"{alias}: {attempt.message}")
                left = (alias, attempt.message)
                continue
            self.attempts.append(attempt)
            if left is not None:
                yield ProviderSwitch(left[0], alias, left[1], tuple(skipped))
            skipped.clear()
            yield AttemptStarted(alias, model, attempt.number)
            error = None
            async with contextlib.aclosing(self._attempt(provider, request, attempt)) as events:
                async for event in events:
                    if isinstance(event, ProviderError):
                        error = event
                        break
                    yield event
            if error is None:
                return
            reason = f"{error.kind.value}: {error.message}"
            skipped.append(Skip(alias, error.kind.value, short(error.message, 500)))
            reasons.append(f"{alias}: {reason}")
            left = (alias, reason)
        reasons.extend(f"{entry.provider}: {entry.reason}" for entry in waiting)
        raise chain_exhausted(
            reasons,
            over_budget=bool(self.attempts)
            and all(
                a.outcome == "skipped" and a.error_kind == ErrorKind.QUOTA for a in self.attempts
            ),
        )

    async def _hold(
        self, alias: str, model: str, request: CompletionRequest, number: int
    ) -> tuple[int | None, ProviderError | None]:
        """Hold this attempt's upper bound against the ledger's budgets before it is
        dispatched, or why they refuse it (without a ledger nothing is held or checked)."""
        if self.ledger is None:
            return None, None
        return await budget_hold(self.ledger, alias, model, request, number)

    async def _attempt(
        self, provider: LLMProvider, request: CompletionRequest, attempt: Attempt
    ) -> AsyncGenerator[TextDelta | Finish | Retrying | ProviderError]:
        """Yields the attempt's events; a ProviderError *yielded* means: move on."""
        alias = provider.alias
        began = time.monotonic()
        chars = 0
        meter = StreamMeter()
        stream: AsyncIterator[TextDelta | Finish]
        while True:
            meter = StreamMeter()
            tried = time.monotonic()
            first_text: float | None = None
            if not self.streaming:
                stream = _completed(provider, request)
            elif provider.accepts_meter:
                stream = provider.stream(request, meter=meter)  # type: ignore[call-arg]
            else:
                stream = provider.stream(request)
            try:
                async with contextlib.aclosing(stream):  # type: ignore[type-var]
                    async for event in stream:
                        if type(event) is TextDelta:
                            if first_text is None:
                                first_text = time.monotonic()
                            if not chars:
                                attempt.ttft_ms = int((time.monotonic() - began) * 1000)
                            chars += len(event.text)
                            attempt.text_chars = chars
                            yield event
                        elif isinstance(event, Finish):
                            await self._health(provider, tried, first_text)
                            await self._succeeded(attempt, event, began)
                            yield event
                            return
                raise ProviderError(
                    ErrorKind.TRUNCATED, "the stream ended without a finish", provider=alias
                )
            except ProviderError as exc:
                if not exc.provider:
                    exc.provider = alias
                await self._health(provider, tried, first_text, exc)
                await self.breaker.record_failure(alias, exc.kind)
                if chars:
                    await self._ended(attempt, "failed", exc, meter, chars, began)
                    raise
                if self._should_retry(exc, attempt) and await self.breaker.state(alias) != "open":
                    delay = self.retry.delay(attempt.retries, exc.retry_after)
                    attempt.retries += 1
                    logger.info("%s: %s; retry %d in %.2fs", alias, exc, attempt.retries, delay)
                    yield Retrying(
                        alias,
                        provider.label or alias,
                        exc.kind.value,
                        short(exc.message, 300),
                        delay,
                        attempt.retries,
                    )
                    await self._sleep(delay)
                    continue
                await self._ended(attempt, "failed", exc, meter, chars, began)
                yield exc
                return
            except (asyncio.CancelledError, GeneratorExit):
                await self._ended(attempt, "cancelled", None, meter, chars, began)
                raise
            except Exception as exc:
                logger.exception("%s failed unexpectedly", alias)
                wrapped = ProviderError(
                    ErrorKind.UNAVAILABLE, f"{type(exc).__name__}: {exc}", provider=alias
                )
                await self._health(provider, tried, first_text, wrapped)
                await self.breaker.record_failure(alias, wrapped.kind)
                await self._ended(attempt, "failed", wrapped, meter, chars, began)
                if chars:
                    raise wrapped from exc
                yield wrapped
                return

    async def _health(
        self,
        provider: LLMProvider,
        tried: float,
        first_text: float | None,
        error: ProviderError | None = None,
    ) -> None:
        """Count one call to the provider (each retry is one) for the health figures: its
        outcome, and for a success its latency and, streaming, its time to first text. A
        provider that is not set up made no call, and is not counted."""
        if not provider.is_configured():
            return
        ended = time.monotonic()
        await acall_record(
            family="llm",
            provider=provider.alias,
            call=CALL_GENERATE,
            ok=error is None,
            latency_ms=(ended - tried) * 1000,
            ttft_ms=None
            if first_text is None or not self.streaming
            else (first_text - tried) * 1000,
            error_kind="" if error is None else error.kind.value,
            message="" if error is None else error.message,
            secrets=secrets_of(provider.options),
        )

    def _should_retry(self, exc: ProviderError, attempt: Attempt) -> bool:
        if not exc.retryable or exc.kind in NEVER_RETRIED:
            return False
        if attempt.retries >= self.retry.max_retries:
            return False
        return exc.retry_after is None or exc.retry_after <= self.retry.retry_after_cap

    async def _succeeded(self, attempt: Attempt, finish: Finish, began: float) -> None:
        await self.breaker.record_success(attempt.provider)
        attempt.outcome = "succeeded"
        attempt.duration_ms = int((time.monotonic() - began) * 1000)
        attempt.usage = finish.usage
        attempt.finish_reason = finish.finish_reason
        if finish.model:
            attempt.model = finish.model
        attempt.cost, attempt.price_assumed = await _price_cost(
            attempt.provider, attempt.model, finish.usage
        )
        await self._record(attempt)
        self.result = FallbackResult(
            provider=attempt.provider,
            model=attempt.model,
            finish_reason=finish.finish_reason,
            usage=finish.usage,
            cost=attempt.cost,
            attempts=tuple(self.attempts),
        )

    async def _ended(
        self,
        attempt: Attempt,
        outcome: str,
        error: ProviderError | None,
        meter: StreamMeter,
        chars: int,
        began: float,
    ) -> None:
        attempt.outcome = outcome
        attempt.duration_ms = int((time.monotonic() - began) * 1000)
        if error is not None:
            attempt.error_kind = error.kind.value
            attempt.message = short(error.message, 500)
        attempt.usage = partial_usage(self.request, meter, chars)
        with contextlib.suppress(Exception):
            attempt.cost, attempt.price_assumed = await _price_cost(
                attempt.provider, attempt.model, attempt.usage
            )
        await self._record(attempt)

    async def _record(self, attempt: Attempt) -> None:
        if self.ledger is None or attempt.usage is None:
            return
        hold, attempt.hold_id = attempt.hold_id, None
        try:
            await acost_record_create(
                provider=attempt.provider,
                model=attempt.model,
                input_tokens=attempt.usage.input_tokens,
                output_tokens=attempt.usage.output_tokens,
                reported=attempt.usage.reported,
                outcome=attempt.outcome,
                cost=attempt.cost,
                user_id=self.ledger.user_id,
                project_id=self.ledger.project_id,
                run_id=self.ledger.run_id,
                part=self.ledger.part,
                attempt=attempt.number,
                error_kind=attempt.error_kind,
                hold_id=hold,
                correlation_id=self.ledger.correlation_id,
                price_assumed=attempt.price_assumed,
            )
        except Exception:
            logger.exception("could not write the cost record of %s", attempt.provider)


async def _completed(
    provider: LLMProvider, request: CompletionRequest
) -> AsyncGenerator[TextDelta | Finish]:
    """One non-streaming call, as the events of a stream: the whole text, then the finish."""
    completion = await provider.complete(request)
    if completion.text:
        yield TextDelta(completion.text)
    yield Finish(completion.finish_reason, completion.usage, completion.model)


def partial_usage(request: CompletionRequest, meter: StreamMeter, chars: int) -> Usage:
    """Usage of an attempt that did not finish: the provider's counts so far where it gave
    them, estimates otherwise. Nothing counted when no text came and no count was reported."""
    if not chars and meter.input_tokens is None:
        return Usage(0, meter.output_tokens or 0, reported=False)
    input_tokens = (
        meter.input_tokens if meter.input_tokens is not None else prompt_estimate(request)
    )
    output_tokens = max(meter.output_tokens or 0, (chars + 3) // 4 if chars else 0)
    return Usage(input_tokens, output_tokens, reported=False)


def stream_with_fallback(
    chain: Sequence[str],
    request: CompletionRequest,
    *,
    ledger: Ledger | None = None,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    providers: Mapping[str, LLMProvider] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    streaming: bool = True,
    first_attempt: int = 1,
    max_cost: Decimal | None = None,
    passed_over: Sequence[PassedOver] = (),
) -> FallbackStream:
    """Stream ``request`` from the first provider of ``chain`` that answers.

    ``providers`` maps aliases to ready adapters (otherwise the registry builds them);
    ``sleep`` is the backoff wait (tests pass a recorder); ``first_attempt`` is the number of
    the first attempt (a later call of the same part continues its count); ``max_cost`` is the
    cost ceiling for fallbacks; ``passed_over`` the providers the policy left out of ``chain``
    (named on the switch that passes them)."""
    return FallbackStream(
        chain,
        request,
        ledger=ledger,
        retry=retry,
        breaker=breaker,
        providers=providers,
        sleep=sleep,
        streaming=streaming,
        first_attempt=first_attempt,
        max_cost=max_cost,
        passed_over=passed_over,
    )


__all__ = [
    "Attempt",
    "AttemptStarted",
    "FallbackEvent",
    "FallbackResult",
    "FallbackStream",
    "Ledger",
    "ProviderSwitch",
    "RetryPolicy",
    "Retrying",
    "Skip",
    "estimate_tokens",
    "partial_usage",
    "route_summary",
    "stream_with_fallback",
]
