"""What a run's handler works with: ``RunContext``.

A handler (see ``generation.runs.kinds``) is ``async def handler(ctx: RunContext) -> dict``. It
reads its request from ``ctx.run.input``, reports stages with ``ctx.progress``, streams model
output into the run with ``ctx.stream_llm`` (fallback, batched ``chunk`` events, usage and cost
on the run, cancel and timeout all handled), may replace the shown text with ``ctx.reset_text``
(a revision) and emits any other event with ``ctx.emit``. It returns the extra fields of the
``done`` event (``script_id``, ``validation``, ...). Raising ``ProviderError`` ends the run with
an ``error`` event carrying the text produced so far; ``RunFailed`` does the same with a code and
message of the handler's choosing.

The text of the run is what the viewer sees. The chunks after the last ``reset`` concatenate to
it: ``reset_text`` emits ``progress`` with ``stage: "reset"`` and the new ``text``, after which
clients start from that text (the ``done`` text is always authoritative).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from generation.providers.base import (
    Completion,
    CompletionRequest,
    ErrorKind,
    Finish,
    Message,
    ProviderError,
    TextDelta,
    Usage,
)
from generation.runs import pricing
from generation.runs.events import RunLog
from generation.runs.models import Run

CHUNK_INTERVAL_SECONDS = 0.05
CHECKPOINT_INTERVAL_SECONDS = 1.0
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
    """The attempt of a ``stream_llm`` call that is currently producing text."""

    provider: str
    model: str
    input_tokens: int
    prices: pricing.Prices
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    output_tokens: int = 0
    parts: list[str] = field(default_factory=list)

    def cost(self, output_tokens: int | None = None) -> Decimal:
        out = self.output_tokens if output_tokens is None else output_tokens
        return self.prices.cost(self.input_tokens, out)


def delta_tokens(text: str) -> int:
    """Live token count of one streamed delta; the provider's own count replaces it at the end."""
    return max(1, len(text) // 5)


class RunContext:
    def __init__(self, run: Run, log: RunLog) -> None:
        self.run = run
        self._log = log
        self._loop = asyncio.get_running_loop()
        self._text_parts: list[str] = [run.text] if run.text else []
        self._text_len = len(run.text)
        self._pending: list[str] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._last_checkpoint = time.monotonic()
        self._call: _Call | None = None
        self._settled_output_tokens = run.output_tokens
        self._settled_input_tokens = run.input_tokens
        self._settled_cost = run.cost
        self._all_reported = run.usage_reported or not run.attempts
        self._started_mono = time.monotonic()
        self._first_token_mono: float | None = None
        self._cost_paths: list[Callable[[], None]] = []

    # ---- what handlers call -------------------------------------------------------------

    @property
    def text(self) -> str:
        """The text the viewer sees (including text not yet sent as a chunk)."""
        return "".join(self._text_parts)

    async def progress(self, stage: str, message: str) -> None:
        await self.emit("progress", {"stage": stage, "message": message})

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        self._flush_text()
        self._log.append(event, data, checkpoint=self._checkpoint_fields(force=False))
        await asyncio.sleep(0)

    async def reset_text(self, text: str, reason: str) -> None:
        self._flush_text()
        self._text_parts = [text] if text else []
        self._text_len = len(text)
        self._log.append(
            "progress",
            {"stage": RESET_STAGE, "message": reason, "text": text},
            checkpoint=self._checkpoint_fields(force=True),
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

        ``continue_text`` is sent as the beginning of the model's answer (an assistant turn)
        so that it continues it; the caller has already shown it (it is not emitted again).
        """
        if model:
            request = _replace(request, model=model)
        if continue_text:
            request = _replace(
                request, messages=(*request.messages, Message("assistant", continue_text))
            )
        if not settings.AURA_STREAMING_ENABLED:
            return await self._complete_llm(request, provider)
        from generation.providers.fallback import (
            AttemptStarted,
            ProviderSwitch,
            stream_with_fallback,
        )
        from generation.providers.registry import resolve_chain

        chain = await sync_to_async(resolve_chain, thread_sensitive=False)(provider)
        ledger = self._ledger()
        finish: Finish | None = None
        try:
            async for event in stream_with_fallback(chain, request, ledger=ledger):
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
        except BaseException as exc:
            self._settle_call(None, outcome=_outcome_of(exc), reason=str(exc))
            raise
        return self._settle_call(finish, outcome="ok", reason="")

    # ---- execution internals (used by generation.runs.execute) ---------------------------

    def usage_totals(self) -> tuple[int, int, bool]:
        out = self._settled_output_tokens + (self._call.output_tokens if self._call else 0)
        return self._settled_input_tokens, out, self._all_reported

    def cost_total(self) -> Decimal:
        return self._settled_cost + (self._call.cost() if self._call else Decimal("0"))

    def flush(self) -> None:
        self._flush_text()

    def first_token_elapsed(self) -> float | None:
        if self._first_token_mono is None:
            return None
        return self._first_token_mono - self._started_mono

    def live_tokens_per_second(self) -> float:
        if self._first_token_mono is None:
            return 0.0
        seconds = time.monotonic() - self._first_token_mono
        _, out, _ = self.usage_totals()
        return round(out / seconds, 2) if seconds > 0.05 else 0.0

    # ---- internals ----------------------------------------------------------------------

    def _ledger(self) -> Any:
        from generation.runs.ledger import RunLedger

        return RunLedger(self.run)

    async def _on_attempt(self, provider: str, model: str, request: CompletionRequest) -> None:
        self._flush_text()
        prices = await pricing.prices_for(provider, model)
        self._call = _Call(
            provider=provider,
            model=model,
            input_tokens=pricing.estimate_input_tokens(request),
            prices=prices,
        )
        self.run.provider = provider
        self.run.model = model

    def _on_delta(self, text: str) -> None:
        if not text:
            return
        call = self._call
        if call is not None:
            if call.first_token is None:
                call.first_token = time.monotonic()
            call.output_tokens += delta_tokens(text)
            call.parts.append(text)
        if self._first_token_mono is None:
            self._first_token_mono = time.monotonic()
            self.run.first_token_at = timezone.now()
        self._pending.append(text)
        self._text_parts.append(text)
        self._text_len += len(text)
        if self._flush_handle is not None:
            return
        wait = self._last_flush + CHUNK_INTERVAL_SECONDS - time.monotonic()
        if wait <= 0:
            self._flush_text()
        else:
            self._flush_handle = self._loop.call_later(wait, self._flush_text)

    def _flush_text(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending:
            return
        content = "".join(self._pending)
        self._pending.clear()
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
            checkpoint=self._checkpoint_fields(force=False),
        )

    def _checkpoint_fields(self, *, force: bool) -> dict[str, Any] | None:
        now = time.monotonic()
        if not force and now - self._last_checkpoint < CHECKPOINT_INTERVAL_SECONDS:
            return None
        self._last_checkpoint = now
        return self.state_fields(include_pending=False)

    def state_fields(self, *, include_pending: bool = True) -> dict[str, Any]:
        """The run's columns as of the last emitted event (plus pending text if asked)."""
        text = self.text
        if not include_pending and self._pending:
            text = text[: len(text) - sum(len(p) for p in self._pending)]
        inp, out, reported = self.usage_totals()
        return {
            "text": text,
            "provider": self.run.provider,
            "model": self.run.model,
            "input_tokens": inp,
            "output_tokens": out,
            "usage_reported": reported,
            "cost": self.cost_total(),
            "first_token_at": self.run.first_token_at,
            "attempts": list(self.run.attempts),
        }

    def _settle_call(self, finish: Finish | None, *, outcome: str, reason: str) -> LLMResult:
        call = self._call
        self._flush_text()
        if call is None:
            raise ProviderError(ErrorKind.UNAVAILABLE, "no provider attempt was made")
        if finish is not None:
            usage = finish.usage
            if not usage.output_tokens and call.output_tokens:
                usage = Usage(usage.input_tokens or call.input_tokens, call.output_tokens, False)
            model = finish.model or call.model
        else:
            usage = Usage(call.input_tokens, call.output_tokens, False)
            model = call.model
        cost = call.prices.cost(usage.input_tokens, usage.output_tokens)
        self._settled_input_tokens += usage.input_tokens
        self._settled_output_tokens += usage.output_tokens
        self._settled_cost += cost
        self._all_reported = self._all_reported and usage.reported
        self._call = None
        self.run.model = model
        now = time.monotonic()
        ttft_ms = int((call.first_token - call.started) * 1000) if call.first_token else None
        streaming_seconds = now - call.first_token if call.first_token else 0.0
        tps = round(usage.output_tokens / streaming_seconds, 2) if streaming_seconds > 0 else 0.0
        return LLMResult(
            text="".join(call.parts),
            provider=call.provider,
            model=model,
            usage=usage,
            cost=cost,
            finish_reason=finish.finish_reason if finish else outcome,
            ttft_ms=ttft_ms,
            tokens_per_second=tps,
        )

    async def _complete_llm(self, request: CompletionRequest, provider: str) -> LLMResult:
        """The non-streaming path (``AURA_STREAMING_ENABLED=false``): one ``complete`` call per
        provider of the chain, the whole text shown as one chunk."""
        from generation.providers.registry import get_provider, resolve_chain

        chain = await sync_to_async(resolve_chain, thread_sensitive=False)(provider)
        last_error: ProviderError | None = None
        previous = ""
        for alias in chain:
            name = alias if isinstance(alias, str) else getattr(alias, "alias", str(alias))
            adapter = get_provider(name)
            model = request.model or adapter.default_model
            await self._on_attempt(name, model, request)
            if previous:
                await self.emit(
                    "provider_switch", {"from": previous, "to": name, "reason": str(last_error)}
                )
            try:
                completion: Completion = await adapter.complete(_replace(request, model=model))
            except ProviderError as exc:
                self._settle_call(None, outcome="error", reason=str(exc))
                self._record_attempt(name, model, "error", str(exc))
                last_error, previous = exc, name
                if not exc.retryable and exc.kind not in _FALLBACK_KINDS:
                    raise
                continue
            except BaseException as exc:
                self._settle_call(None, outcome=_outcome_of(exc), reason=str(exc))
                self._record_attempt(name, model, _outcome_of(exc), str(exc))
                raise
            self._on_delta(completion.text)
            self._flush_text()
            result = self._settle_call(
                Finish(completion.finish_reason, completion.usage, completion.model),
                outcome="ok",
                reason="",
            )
            self._record_attempt(name, result.model, "ok", "", usage=result.usage, cost=result.cost)
            await pricing.record_cost(self.run, result.provider, result.model, result.usage)
            return result
        assert last_error is not None
        raise last_error

    def _record_attempt(
        self,
        provider: str,
        model: str,
        outcome: str,
        reason: str,
        *,
        usage: Usage | None = None,
        cost: Decimal | None = None,
    ) -> None:
        self.run.attempts = [
            *self.run.attempts,
            {
                "provider": provider,
                "model": model,
                "outcome": outcome,
                "reason": reason,
                "retries": 0,
                "usage": (
                    {
                        "input_tokens": usage.input_tokens,
                        "output_tokens": usage.output_tokens,
                        "reported": usage.reported,
                    }
                    if usage
                    else None
                ),
                "cost": str(cost) if cost is not None else None,
                "streaming": False,
            },
        ]


_FALLBACK_KINDS = frozenset({ErrorKind.AUTH, ErrorKind.QUOTA})


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


def _replace(request: CompletionRequest, **changes: Any) -> CompletionRequest:
    return dataclasses.replace(request, **changes)
