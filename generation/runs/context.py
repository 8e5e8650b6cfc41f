"""What a run's handler works with: ``RunContext``.

A handler (see ``generation.runs.kinds``) is ``async def handler(ctx: RunContext) -> dict``. It
reads its request from ``ctx.run.input``, reports stages with ``ctx.progress``, streams model
output into the run with ``ctx.stream_llm`` (fallback, batched ``chunk`` events, usage and cost
on the run, cancel and timeout all handled), may replace the shown text with ``ctx.reset_text``
(a revision) and emits any other event with ``ctx.emit``. It returns the extra fields of the
``done`` event (``script_id``, ``validation``, ...). Raising ``ProviderError`` ends the run with
an ``error`` event carrying the text produced so far; ``RunFailed`` does the same with a code and
message of the handler's choosing. A cancel arrives as ``asyncio.CancelledError``: let it
propagate (clean up in ``finally`` or ``except BaseException: ...; raise``).

The text of the run is what the viewer sees. Chunks append to it; ``reset_text`` replaces it and
emits ``progress`` with ``stage: "reset"``, the ``message`` and the new ``text``, after which the
chunks append to that text. So the concatenation of the chunk contents after the last reset
(after its ``text``) equals the final text, and without a reset, the concatenation of all chunks
does. The ``done`` text is always authoritative.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from generation.costs.services import PriceQuote
from generation.providers.base import (
    CompletionRequest,
    Finish,
    Message,
    ProviderError,
    TextDelta,
    Usage,
)
from generation.runs import pricing, runner
from generation.runs.events import RunLog
from generation.runs.models import Run, RunStatus

if TYPE_CHECKING:
    from generation.runs.fragments import Metrics

CHECKPOINT_INTERVAL_SECONDS = 1.0
METRICS_INTERVAL_SECONDS = 0.25
RESET_STAGE = "reset"


class RunFailed(Exception):
    """A handler's own reason to end the run with an ``error`` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class LLMResult:
    """One ``stream_llm`` call: its own text (without ``continue_text``) and measurements."""

    text: str
    provider: str
    model: str
    usage: Usage
    cost: Decimal
    finish_reason: str
    ttft_ms: int | None
    tokens_per_second: float


@dataclass(slots=True)
class _Call:
    """The attempt of a ``stream_llm`` call that is producing text now."""

    provider: str
    model: str
    input_tokens: int
    quote: PriceQuote
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    output_tokens: int = 0
    chars: int = 0
    parts: list[str] = field(default_factory=list)

    def cost(self) -> Decimal:
        return pricing.cost(self.quote, self.input_tokens, self.output_tokens)


def estimate_tokens_of_chars(chars: int) -> int:
    """Live output tokens of an attempt (the ledger's estimate: a token per four characters);
    the provider's own count replaces it when the attempt finishes."""
    return (chars + 3) // 4


class RunContext:
    def __init__(self, run: Run, log: RunLog) -> None:
        self.run = run
        self._log = log
        self._loop = asyncio.get_running_loop()
        self._text_parts: list[str] = [run.text] if run.text else []
        self._pending: list[str] = []
        self._pending_chars = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._checkpoint_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._last_checkpoint = time.monotonic()
        self._call: _Call | None = None
        self._settled_input = run.input_tokens
        self._settled_output = run.output_tokens
        self._settled_cost = run.cost
        self._reported = run.usage_reported or not run.attempts
        self._first_token_mono: float | None = None
        self._last_metrics = 0.0
        self._closed = False

    # ---- for handlers ---------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The text the viewer sees (including the last few ms not yet sent as a chunk)."""
        return "".join(self._text_parts)

    async def progress(self, stage: str, message: str) -> None:
        await self.emit("progress", {"stage": stage, "message": message})

    async def run_sync(self, func: Callable[[], Any]) -> Any:
        """Run a database function on the thread that writes this run's events, so that a
        handler's own writes never contend with them (SQLite takes writes best from one thread)."""
        return await self._log._writer.run_sync(func)

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        self._flush_text()
        self._log.append(event, data, checkpoint=self._checkpoint(force=False))
        await asyncio.sleep(0)

    async def reset_text(self, text: str, reason: str) -> None:
        self._flush_text()
        self._text_parts = [text] if text else []
        self._log.append(
            "progress",
            {"stage": RESET_STAGE, "message": reason, "text": text},
            checkpoint=self._checkpoint(force=True),
        )
        await asyncio.sleep(0)

    async def stream_llm(
        self,
        request: CompletionRequest,
        *,
        provider: str,
        model: str | None = None,
        continue_text: str = "",
    ) -> LLMResult:
        """Stream one completion into the run, falling back along the provider's chain.

        ``continue_text`` is sent as the beginning of the model's answer (an assistant turn, and
        ``metadata["continue_text"]``) so that the model continues it; the caller has already
        shown it (it is not emitted again).
        """
        if model:
            request = dataclasses.replace(request, model=model)
        if continue_text:
            request = dataclasses.replace(
                request,
                messages=(*request.messages, Message("assistant", continue_text)),
                metadata={**request.metadata, "continue_text": continue_text},
            )
        if not settings.AURA_STREAMING_ENABLED:
            return await self._complete_llm(request, provider)
        from generation.providers.fallback import (
            AttemptStarted,
            ProviderSwitch,
            stream_with_fallback,
        )
        from generation.providers.registry import aresolve_chain

        chain = await aresolve_chain(provider)
        stream = stream_with_fallback(chain, request, ledger=self._ledger())
        finish: Finish | None = None
        try:
            async with stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        self._on_delta(event.text)
                    elif isinstance(event, AttemptStarted):
                        await self._on_attempt(event.provider, event.model, request)
                    elif isinstance(event, ProviderSwitch):
                        await self.emit(
                            "provider_switch",
                            {
                                "from": event.from_provider,
                                "to": event.to_provider,
                                "reason": event.reason,
                            },
                        )
                    elif isinstance(event, Finish):
                        finish = event
        except BaseException:
            self._settle([a.as_dict() for a in stream.attempts], None)
            raise
        return self._settle([a.as_dict() for a in stream.attempts], finish)

    # ---- for the executor ---------------------------------------------------------------

    def usage_totals(self) -> tuple[int, int, bool]:
        """Input tokens, output tokens and whether every count was the provider's own."""
        out = self._settled_output + (self._call.output_tokens if self._call else 0)
        inp = self._settled_input + (self._call.input_tokens if self._call else 0)
        return inp, out, self._reported and self._call is None

    def cost_total(self) -> Decimal:
        return self._settled_cost + (self._call.cost() if self._call else Decimal("0"))

    def metrics(self) -> Metrics:
        from generation.runs.fragments import Metrics

        _, out, _ = self.usage_totals()
        run = self.run
        ttft = None
        if run.first_token_at is not None and run.started_at is not None:
            ttft = int((run.first_token_at - run.started_at).total_seconds() * 1000)
        return Metrics(
            status=RunStatus.RUNNING,
            provider=self._call.provider if self._call else run.provider,
            model=self._call.model if self._call else run.model,
            tokens=out,
            expected_tokens=run.expected_tokens,
            tokens_per_second=self.live_tokens_per_second(),
            ttft_ms=ttft,
            cost=self.cost_total(),
            expected_cost=run.expected_cost,
        )

    def metrics_for(self, event: str) -> Metrics | None:
        """The metrics to show with ``event``: always, except on chunks, where a few times a
        second is enough for people (and spares the rendering)."""
        now = time.monotonic()
        if event == "chunk" and now - self._last_metrics < METRICS_INTERVAL_SECONDS:
            return None
        self._last_metrics = now
        return self.metrics()

    def live_tokens_per_second(self) -> float:
        if self._first_token_mono is None:
            return 0.0
        seconds = time.monotonic() - self._first_token_mono
        _, out, _ = self.usage_totals()
        return round(out / seconds, 2) if seconds > 0.05 else 0.0

    def flush(self) -> None:
        """Send the text not yet sent as a chunk."""
        self._flush_text()

    def state_fields(self) -> dict[str, Any]:
        """The run's columns as of the last emitted event."""
        inp, out, reported = self.usage_totals()
        return {
            "text": self._sent_text(),
            "provider": self._call.provider if self._call else self.run.provider,
            "model": self._call.model if self._call else self.run.model,
            "input_tokens": inp,
            "output_tokens": out,
            "usage_reported": reported,
            "cost": self.cost_total(),
            "first_token_at": self.run.first_token_at,
            "attempts": list(self.run.attempts),
        }

    async def close(self, event: str, data: dict[str, Any], fields: dict[str, Any]) -> bool:
        """Store the terminal event with the run's final columns (once; never interrupted by a
        late cancel). False when the run had already been ended elsewhere."""
        self._flush_text()
        self._closed = True
        for handle in (self._flush_handle, self._checkpoint_handle):
            if handle is not None:
                handle.cancel()
        future = self._log.close_nowait(event, data, fields)
        task = asyncio.current_task()
        while True:
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                if task is not None:
                    task.uncancel()
                if future.done():
                    return future.result()

    # ---- internals ------------------------------------------------------------------------

    def _ledger(self) -> Any:
        from generation.providers.fallback import Ledger

        return Ledger(
            user_id=self.run.created_by_id, project_id=self.run.project_id, run_id=str(self.run.pk)
        )

    async def _on_attempt(self, provider: str, model: str, request: CompletionRequest) -> None:
        self._flush_text()
        quote = await pricing.quote_for(provider, model)
        self._call = _Call(
            provider=provider,
            model=model,
            input_tokens=pricing.estimate_input_tokens(request),
            quote=quote,
        )
        self.run.provider = provider
        self.run.model = model

    def _on_delta(self, text: str) -> None:
        if not text:
            return
        now = time.monotonic()
        call = self._call
        if call is not None:
            if call.first_token is None:
                call.first_token = now
            call.chars += len(text)
            call.output_tokens = estimate_tokens_of_chars(call.chars)
            call.parts.append(text)
        if self._first_token_mono is None:
            self._first_token_mono = now
            if self.run.first_token_at is None:
                self.run.first_token_at = timezone.now()
        self._pending.append(text)
        self._pending_chars += len(text)
        self._text_parts.append(text)
        if self._flush_handle is not None:
            return
        wait = self._last_flush + runner.chunk_interval() - now
        if wait <= 0:
            self._flush_text()
        else:
            self._flush_handle = self._loop.call_later(wait, self._flush_text)

    def _flush_text(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending or self._closed:
            return
        content = "".join(self._pending)
        self._pending.clear()
        self._pending_chars = 0
        self._last_flush = time.monotonic()
        _, out, _ = self.usage_totals()
        self._log.append(
            "chunk",
            {
                "content": content,
                "tokens": out,
                "cost": str(self.cost_total()),
                "tokens_per_second": self.live_tokens_per_second(),
                "provider": self._call.provider if self._call else self.run.provider,
            },
            checkpoint=self._checkpoint(force=False),
        )

    def _sent_text(self) -> str:
        text = self.text
        return text[: len(text) - self._pending_chars] if self._pending_chars else text

    def _checkpoint(self, *, force: bool) -> dict[str, Any] | None:
        """The run's columns to store with the event being appended, at most once a second
        (a timer stores the last ones when no further event comes)."""
        now = time.monotonic()
        if force or now - self._last_checkpoint >= CHECKPOINT_INTERVAL_SECONDS:
            self._last_checkpoint = now
            if self._checkpoint_handle is not None:
                self._checkpoint_handle.cancel()
                self._checkpoint_handle = None
            return self.state_fields()
        if self._checkpoint_handle is None:
            self._checkpoint_handle = self._loop.call_later(
                self._last_checkpoint + CHECKPOINT_INTERVAL_SECONDS - now, self._checkpoint_alone
            )
        return None

    def _checkpoint_alone(self) -> None:
        self._checkpoint_handle = None
        if self._closed or self._log.lost:
            return
        self._last_checkpoint = time.monotonic()
        self._log.checkpoint(self.state_fields())

    def _settle(self, attempts: list[dict[str, Any]], finish: Finish | None) -> LLMResult:
        """End a ``stream_llm`` call: its attempts (as the fallback recorded and billed them)
        join the run's, and their usage and cost move into the run's totals. The live
        estimate stands in for an attempt the fallback could not count."""
        self._flush_text()
        call = self._call
        self._call = None
        input_tokens = output_tokens = 0
        reported = True
        cost = Decimal("0")
        for attempt in attempts:
            usage = attempt.get("usage")
            if usage is None and call is not None and attempt.get("provider") == call.provider:
                usage = {
                    "input_tokens": call.input_tokens,
                    "output_tokens": call.output_tokens,
                    "reported": False,
                }
                attempt["usage"] = usage
                attempt["cost"] = str(call.cost())
            if usage is None:
                continue
            input_tokens += int(usage["input_tokens"])
            output_tokens += int(usage["output_tokens"])
            reported = reported and bool(usage["reported"])
            cost += Decimal(str(attempt.get("cost") or "0"))
        self._settled_input += input_tokens
        self._settled_output += output_tokens
        self._settled_cost += cost
        self._reported = self._reported and reported
        self.run.attempts = [*self.run.attempts, *attempts]
        provider = call.provider if call else self.run.provider
        model = (finish.model if finish else "") or (call.model if call else self.run.model)
        self.run.provider = provider
        self.run.model = model
        ttft_ms = None
        seconds = 0.0
        if call is not None and call.first_token is not None:
            ttft_ms = int((call.first_token - call.started) * 1000)
            seconds = time.monotonic() - call.first_token
        final_usage = finish.usage if finish else Usage(input_tokens, output_tokens, False)
        return LLMResult(
            text="".join(call.parts) if call else "",
            provider=provider,
            model=model,
            usage=Usage(input_tokens, output_tokens, reported) if attempts else final_usage,
            cost=cost,
            finish_reason=finish.finish_reason if finish else "incomplete",
            ttft_ms=ttft_ms,
            tokens_per_second=(
                round(final_usage.output_tokens / seconds, 2) if seconds > 0 else 0.0
            ),
        )

    async def _complete_llm(self, request: CompletionRequest, provider: str) -> LLMResult:
        """The non-streaming path (``AURA_STREAMING_ENABLED=false``): ``complete`` on each
        provider of the chain until one answers; the whole text is shown as one chunk."""
        from generation.costs.services import acost_record_create
        from generation.providers.fallback import budget_refusal, chain_exhausted
        from generation.providers.registry import aget_provider, aresolve_chain

        chain = await aresolve_chain(provider)
        reasons: list[str] = []
        budget_refusals = 0
        left: tuple[str, str] | None = None
        for number, alias in enumerate(chain, start=1):
            adapter = await aget_provider(alias)
            attempt_request = request
            if number > 1 and request.model:
                attempt_request = dataclasses.replace(request, model="")
            model = attempt_request.model or adapter.default_model
            attempt: dict[str, Any] = {
                "number": number,
                "provider": alias,
                "model": model,
                "outcome": "running",
                "error_kind": "",
                "message": "",
                "retries": 0,
                "started_at": time.time(),
                "ttft_ms": None,
                "duration_ms": None,
                "usage": None,
                "cost": "0",
                "finish_reason": "",
                "streaming": False,
            }
            refused = await budget_refusal(self._ledger(), alias, model, attempt_request)
            if refused is not None:
                attempt.update(
                    outcome="skipped",
                    error_kind=refused.kind.value,
                    message=refused.message[:500],
                    duration_ms=0,
                )
                self.run.attempts = [*self.run.attempts, attempt]
                reason = f"{refused.kind.value}: {refused.message}"
                reasons.append(f"{alias}: {reason}")
                budget_refusals += 1
                left = (alias, reason)
                continue
            if left is not None:
                await self.emit(
                    "provider_switch", {"from": left[0], "to": alias, "reason": left[1]}
                )
            await self._on_attempt(alias, model, attempt_request)
            began = time.monotonic()
            try:
                completion = await adapter.complete(attempt_request)
            except ProviderError as exc:
                attempt.update(
                    outcome="failed",
                    error_kind=exc.kind.value,
                    message=exc.message[:500],
                    duration_ms=int((time.monotonic() - began) * 1000),
                    usage={"input_tokens": 0, "output_tokens": 0, "reported": False},
                )
                self._settle([attempt], None)
                reason = f"{exc.kind.value}: {exc.message}"
                reasons.append(f"{alias}: {reason}")
                left = (alias, reason)
                continue
            except BaseException:
                attempt.update(
                    outcome="cancelled",
                    duration_ms=int((time.monotonic() - began) * 1000),
                    usage={"input_tokens": 0, "output_tokens": 0, "reported": False},
                )
                self._settle([attempt], None)
                raise
            usage = completion.usage
            quote = self._call.quote if self._call else await pricing.quote_for(alias, model)
            cost = pricing.cost(quote, usage.input_tokens, usage.output_tokens)
            elapsed = int((time.monotonic() - began) * 1000)
            attempt.update(
                outcome="succeeded",
                model=completion.model or model,
                ttft_ms=elapsed,
                duration_ms=elapsed,
                usage={
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "reported": usage.reported,
                },
                cost=str(cost),
                finish_reason=completion.finish_reason,
            )
            await acost_record_create(
                provider=alias,
                model=completion.model or model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                reported=usage.reported,
                outcome="succeeded",
                cost=cost,
                user_id=self.run.created_by_id,
                project_id=self.run.project_id,
                run_id=str(self.run.pk),
                attempt=number,
            )
            self._on_delta(completion.text)
            return self._settle(
                [attempt], Finish(completion.finish_reason, usage, completion.model or model)
            )
        raise chain_exhausted(reasons, over_budget=bool(chain) and budget_refusals == len(chain))
