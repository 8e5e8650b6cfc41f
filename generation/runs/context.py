"""What a coroutine-mode handler works with: ``RunContext`` and its parts.

A handler (see ``generation.runs.kinds``) is ``async def handler(ctx: RunContext) -> dict``. It
reads its request from ``ctx.run.input``, reports stages with ``ctx.progress``, and streams model
output into the run's parts: ``ctx.part(key).stream_llm(...)`` (fallback along the provider's
chain, batched chunk events, usage and cost on the part and the run, cancel and time limits all
handled). ``ctx.parallel({key: coroutine, ...})`` runs parts at the same time: one part failing
or timing out marks that part (``failed`` / ``timed_out`` with its reason, its text kept) and
lets the others finish. ``ctx.stream_llm`` and ``ctx.reset_text`` work on the kind's text part
(``main`` for a script). ``ctx.emit`` sends any other event (of the run, or of a part with
``part.emit``). The handler returns the extra fields of the ``done`` event. Raising
``ProviderError`` ends the run with an ``error`` event carrying the text produced so far;
``RunFailed`` does the same with a code and message of the handler's choosing. A cancel arrives
as ``asyncio.CancelledError``: let it propagate (clean up in ``finally``).

Every part's pending text is cut into chunk events by one timer of the run, about every 50 ms
(longer while the loop runs late), so that all parts' text of a tick reaches the event writer
together; the run's and every changed part's columns are checkpointed at least once a second.

A part's text is what its viewers see. Chunks append to it; ``reset_text`` replaces it and
emits the stage event with ``stage: "reset"``, the ``message`` and the new ``text``, after which
the chunks append to that text. The ``done`` text is always authoritative.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from aura_site.money import plain
from generation.chain.fallback import (
    AttemptStarted,
    Ledger,
    ProviderSwitch,
    Retrying,
    stream_with_fallback,
)
from generation.chain.policy import achain_plan
from generation.costs.services import PriceQuote
from generation.providers.base import (
    CompletionRequest,
    Finish,
    Message,
    ProviderError,
    TextDelta,
    Usage,
)
from generation.runs import load, pricing
from generation.runs.errors import PartTimedOut, RunFailed, RunPaused
from generation.runs.events import RESET_STAGE, Checkpoint, Final, RunLog, RunLost
from generation.runs.kinds import KindSpec
from generation.runs.models import ACTIVE_PART_STATUSES, PartStatus, Run, RunPart

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECONDS = 1.0
METRICS_INTERVAL_SECONDS = 0.25

T = TypeVar("T")


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
    pieces: list[str] = field(default_factory=list)

    def cost(self) -> Decimal:
        return pricing.cost(self.quote, self.input_tokens, self.output_tokens)


def estimate_tokens_of_chars(chars: int) -> int:
    """Live output tokens of an attempt (the ledger's estimate: a token per four characters);
    the provider's own count replaces it when the attempt finishes."""
    return (chars + 3) // 4


class Part:
    """A part of the run while this process executes it (the live ``RunPart``)."""

    def __init__(
        self, ctx: RunContext, key: str, label: str, position: int, row: RunPart | None
    ) -> None:
        self._ctx = ctx
        self.key = key
        self.label = label or (row.label if row else "") or key
        self.position = row.position if row else position
        self.status: str = row.status if row else PartStatus.WAITING
        self.provider = row.provider if row else ""
        self.model = row.model if row else ""
        self.attempts: list[dict[str, Any]] = list(row.attempts) if row else []
        self.progress: int | None = row.progress if row else None
        self.operation: dict[str, Any] = dict(row.operation) if row else {}
        self.result: dict[str, Any] = dict(row.result) if row else {}
        self.started_at: datetime | None = row.started_at if row else None
        self.first_token_at: datetime | None = row.first_token_at if row else None
        self.finished_at: datetime | None = row.finished_at if row else None
        self.error_code = row.error_code if row else ""
        self.error_message = row.error_message if row else ""
        self.extra: dict[str, Any] = {}
        """The handler's own values for its chunk events (a debate's speaker, say)."""
        self.events = ctx.spec.events_of(key)
        self.dom_id = ctx.spec.dom_id_of(ctx.run.dom_id, key)
        self._text_pieces: list[str] = [row.text] if row and row.text else []
        self._pending: list[str] = []
        self._pending_chars = 0
        self._call: _Call | None = None
        self._settled_input = row.input_tokens if row else 0
        self._settled_output = row.output_tokens if row else 0
        self._settled_cost = row.cost if row else Decimal("0")
        self._reported = (row.usage_reported or not row.attempts) if row else True
        self._first_token_mono: float | None = None
        self._last_metrics = 0.0
        self.version = 1 if row is None else 0

    # ---- what handlers and templates read --------------------------------------------------

    @property
    def text(self) -> str:
        return "".join(self._text_pieces)

    @property
    def input_tokens(self) -> int:
        return self._settled_input + (self._call.input_tokens if self._call else 0)

    @property
    def output_tokens(self) -> int:
        return self._settled_output + (self._call.output_tokens if self._call else 0)

    @property
    def usage_reported(self) -> bool:
        return self._reported and self._call is None

    @property
    def cost(self) -> Decimal:
        return self._settled_cost + (self._call.cost() if self._call else Decimal("0"))

    @property
    def tokens_per_second(self) -> float:
        if self._first_token_mono is None:
            return 0.0
        seconds = time.monotonic() - self._first_token_mono
        return round(self.output_tokens / seconds, 2) if seconds > 0.05 else 0.0

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_PART_STATUSES

    @property
    def ttft_ms(self) -> int | None:
        if self.first_token_at is None or self.started_at is None:
            return None
        return int((self.first_token_at - self.started_at).total_seconds() * 1000)

    def get_status_display(self) -> str:
        return str(PartStatus(self.status).label)

    # ---- for handlers ------------------------------------------------------------------------

    def set(self, **fields: Any) -> None:
        """Change the part's own columns (``status``, ``progress``, ``result``, ``provider``,
        ``model``, ``error_code``, ``error_message``, ``operation``, ``label``); they are stored
        with the next checkpoint."""
        for name, value in fields.items():
            if name not in _SETTABLE:
                raise AttributeError(f"a part has no settable column {name!r}")
            setattr(self, name, value)
        if fields.get("status") in _ENDED_PART_STATUSES and self.finished_at is None:
            self.finished_at = timezone.now()
        self._touch(status="status" in fields)

    def start(self, *, provider: str = "", model: str = "") -> None:
        changed = self.status != PartStatus.RUNNING
        if changed:
            self.status = PartStatus.RUNNING
            self.finished_at = None
        if self.started_at is None:
            self.started_at = timezone.now()
        if provider:
            self.provider = provider
        if model:
            self.model = model
        self._touch(status=changed)

    def end(self, status: str, code: str = "", message: str = "") -> None:
        """End the part (``succeeded``, ``failed``, ``timed_out``, ``cancelled``, ``skipped``)."""
        self.status = status
        self.error_code = code
        self.error_message = message
        if self.finished_at is None:
            self.finished_at = timezone.now()
        self._touch(status=True)

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self._ctx.emit(event, data, part=self.key)

    async def reset_text(self, text: str, reason: str) -> None:
        ctx = self._ctx
        ctx.flush()
        self._text_pieces = [text] if text else []
        self._touch()
        ctx._log.append(
            ctx.spec.stage_event,
            {"stage": RESET_STAGE, "message": reason, "text": text},
            part=self.key,
            checkpoint=ctx._checkpoint(force=True),
        )
        await asyncio.sleep(0)

    async def stream_llm(
        self,
        request: CompletionRequest,
        *,
        provider: str,
        model: str | None = None,
        continue_text: str = "",
        time_limit: float | None = None,
        first_token_limit: float | None = None,
        max_cost: Decimal | None = None,
    ) -> LLMResult:
        """Stream one completion into this part, falling back along the provider's chain.

        ``max_cost`` is a cost ceiling for the fallbacks: one whose expected cost is above it is
        skipped ("over your cost ceiling"). A switch (``provider_switch``) names every provider
        passed over and why (``skipped``, ``summary``); a retry of a provider is shown live
        (``provider_retry``: ``provider``, ``label``, ``code``, ``message``,
        ``retry_in_seconds``, ``retry``).

        ``continue_text`` is sent as the beginning of the model's answer (an assistant turn, and
        ``metadata["continue_text"]``) so that the model continues it; the caller has already
        shown it. ``time_limit`` and ``first_token_limit`` (seconds; default: the kind's limits) end
        the call with ``PartTimedOut``, closing the upstream and billing what it produced.
        """
        if model:
            request = dataclasses.replace(request, model=model)
        if continue_text:
            request = dataclasses.replace(
                request,
                messages=(*request.messages, Message("assistant", continue_text)),
                metadata={**request.metadata, "continue_text": continue_text},
            )
        spec = self._ctx.spec
        limit = time_limit if time_limit is not None else spec.part_timeout_seconds
        first_limit = (
            first_token_limit if first_token_limit is not None else spec.first_token_timeout_seconds
        )
        self.start()
        plan = await achain_plan(provider)
        stream = stream_with_fallback(
            plan.chain,
            request,
            ledger=self._ctx.ledger(self.key),
            streaming=bool(settings.AURA_STREAMING_ENABLED),
            first_attempt=len(self.attempts) + 1,
            max_cost=max_cost,
            passed_over=plan.passed_over,
        )
        finish: Finish | None = None
        loop = asyncio.get_running_loop()
        began = loop.time()
        waiting_first = first_limit is not None

        def deadline() -> float | None:
            ends = [began + limit] if limit is not None else []
            if waiting_first and first_limit is not None:
                ends.append(began + first_limit)
            return min(ends) if ends else None

        try:
            async with asyncio.timeout_at(deadline()) as scope, stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        if waiting_first:
                            waiting_first = False
                            scope.reschedule(deadline())
                        self._ctx._on_delta(self, event.text)
                    elif isinstance(event, AttemptStarted):
                        await self._on_attempt(event.provider, event.model, request)
                    elif isinstance(event, ProviderSwitch):
                        await self._ctx.emit(
                            "provider_switch",
                            self._ctx._switch_data(self.key, event),
                            part=self.key,
                        )
                    elif isinstance(event, Retrying):
                        await self._ctx.emit(
                            "provider_retry",
                            self._ctx._retry_data(self.key, event),
                            part=self.key,
                        )
                    elif isinstance(event, Finish):
                        finish = event
        except TimeoutError:
            self._settle([a.as_dict() for a in stream.attempts], None)
            if waiting_first and first_limit is not None:
                raise PartTimedOut(
                    self.key, f"No first word within {first_limit:g} seconds."
                ) from None
            raise PartTimedOut(self.key, f"Took longer than {limit:g} seconds.") from None
        except BaseException:
            self._settle([a.as_dict() for a in stream.attempts], None)
            raise
        return self._settle([a.as_dict() for a in stream.attempts], finish)

    # ---- internals ---------------------------------------------------------------------------

    def _touch(self, *, status: bool = False) -> None:
        """Note a change to store; a change of status is stored with the next event (a viewer
        arriving then sees the part's true state), others at most once a second."""
        self.version += 1
        if status:
            self._ctx._status_changed = True

    def sent_text(self) -> str:
        text = self.text
        return text[: len(text) - self._pending_chars] if self._pending_chars else text

    def columns(self) -> dict[str, Any]:
        """The part's ``RunPart`` columns as of the last emitted event."""
        return {
            "label": self.label[:120],
            "position": self.position,
            "status": self.status,
            "provider": self.provider,
            "model": self.model,
            "attempts": list(self.attempts),
            "text": self.sent_text(),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "usage_reported": self.usage_reported,
            "cost": self.cost,
            "progress": self.progress,
            "operation": self.operation,
            "result": self.result,
            "started_at": self.started_at,
            "first_token_at": self.first_token_at,
            "finished_at": self.finished_at,
            "error_code": self.error_code[:40],
            "error_message": self.error_message,
        }

    async def _on_attempt(self, provider: str, model: str, request: CompletionRequest) -> None:
        self._ctx.flush()
        quote = await pricing.quote_for(provider, model)
        self._call = _Call(
            provider=provider,
            model=model,
            input_tokens=pricing.estimate_input_tokens(request),
            quote=quote,
        )
        self.provider = provider
        self.model = model
        self._touch()
        self._ctx._on_attempt(self)

    def _take_delta(self, text: str, now: float) -> None:
        call = self._call
        if call is not None:
            if call.first_token is None:
                call.first_token = now
            call.chars += len(text)
            call.output_tokens = estimate_tokens_of_chars(call.chars)
            call.pieces.append(text)
        if self._first_token_mono is None:
            self._first_token_mono = now
        if self.first_token_at is None:
            self.first_token_at = timezone.now()
        self._pending.append(text)
        self._pending_chars += len(text)
        self._text_pieces.append(text)
        self._touch()

    def _take_pending(self) -> str:
        content = "".join(self._pending)
        self._pending.clear()
        self._pending_chars = 0
        return content

    def _settle(self, attempts: list[dict[str, Any]], finish: Finish | None) -> LLMResult:
        """End a ``stream_llm`` call: its attempts (as the chain recorded and billed them) join
        the part's, and their usage and cost move into the part's totals. The live estimate
        stands in for an attempt the chain could not count."""
        self._ctx.flush()
        call = self._call
        self._call = None
        input_tokens = output_tokens = 0
        reported = True
        cost = Decimal("0")
        for attempt in attempts:
            attempt["part"] = self.key
            usage = attempt.get("usage")
            if usage is None and call is not None and attempt.get("provider") == call.provider:
                usage = {
                    "input_tokens": call.input_tokens,
                    "output_tokens": call.output_tokens,
                    "reported": False,
                }
                attempt["usage"] = usage
                attempt["cost"] = plain(call.cost())
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
        self.attempts = [*self.attempts, *attempts]
        self._ctx._on_attempts(attempts)
        provider = call.provider if call else self.provider
        model = (finish.model if finish else "") or (call.model if call else self.model)
        self.provider = provider
        self.model = model
        self._touch()
        ttft_ms = None
        seconds = 0.0
        if call is not None and call.first_token is not None:
            ttft_ms = int((call.first_token - call.started) * 1000)
            seconds = time.monotonic() - call.first_token
        final_usage = finish.usage if finish else Usage(input_tokens, output_tokens, False)
        return LLMResult(
            text="".join(call.pieces) if call else "",
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


_RETRY_WORDS = {
    "rate_limit": "rate-limited",
    "overloaded": "overloaded",
    "timeout": "timed out",
    "network": "unreachable",
    "unavailable": "unavailable",
}

_SETTABLE = frozenset(
    {
        "status",
        "progress",
        "result",
        "provider",
        "model",
        "error_code",
        "error_message",
        "operation",
        "label",
    }
)
_ENDED_PART_STATUSES = frozenset(
    {
        PartStatus.SUCCEEDED,
        PartStatus.FAILED,
        PartStatus.CANCELLED,
        PartStatus.SKIPPED,
        PartStatus.TIMED_OUT,
    }
)


class RunContext:
    def __init__(
        self, run: Run, log: RunLog, spec: KindSpec, parts: Iterable[RunPart] = ()
    ) -> None:
        self.run = run
        self.spec = spec
        self._log = log
        self._loop = asyncio.get_running_loop()
        self.parts: dict[str, Part] = {}
        for row in sorted(parts, key=lambda row: (row.position, row.key)):
            self.parts[row.key] = Part(self, row.key, row.label, row.position, row)
        self._flush_handle: asyncio.TimerHandle | None = None
        self._checkpoint_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._last_checkpoint = time.monotonic()
        self._stored_versions: dict[str, int] = {key: 0 for key in self.parts}
        self._rows: set[str] = set(self.parts)
        """Parts that have a row (those made during the run get theirs at a checkpoint)."""
        self._run_version = 0
        self._stored_run_version = 0
        self._first_token_mono: float | None = None
        self._last_metrics: dict[str, float] = {}
        self._closed = False
        self._status_changed = False

    # ---- for handlers ------------------------------------------------------------------------

    def part(self, key: str, label: str = "") -> Part:
        """The part ``key`` (created, waiting, the first time it is asked for)."""
        part = self.parts.get(key)
        if part is None:
            part = Part(self, key, label, len(self.parts), None)
            self.parts[key] = part
        elif label and part.label != label:
            part.label = label
            part._touch()
        return part

    @property
    def text_part(self) -> Part | None:
        key = self.spec.text_part
        return self.part(key) if key else None

    def _text_part(self) -> Part:
        part = self.text_part
        if part is None:
            raise RunFailed("internal_error", f"runs of kind {self.spec.name} have no text part")
        return part

    @property
    def text(self) -> str:
        """The text part's text as viewers see it (with the last few ms not yet sent)."""
        part = self.text_part
        return part.text if part is not None else ""

    async def stream_llm(
        self,
        request: CompletionRequest,
        *,
        provider: str,
        model: str | None = None,
        continue_text: str = "",
        max_cost: Decimal | None = None,
    ) -> LLMResult:
        return await self._text_part().stream_llm(
            request,
            provider=provider,
            model=model,
            continue_text=continue_text,
            max_cost=max_cost,
        )

    async def reset_text(self, text: str, reason: str) -> None:
        await self._text_part().reset_text(text, reason)

    def pause(self, until: datetime, state: dict[str, Any]) -> RunPaused:
        """End this stretch of the run (``raise ctx.pause(...)``): it continues at ``until``
        or when woken, with ``state`` in ``ctx.run.state`` (see ``RunPaused``)."""
        return RunPaused(until, state)

    @property
    def resumed(self) -> bool:
        """Whether this stretch continues a run that paused (its ``state`` says where)."""
        return bool(self.run.state)

    async def progress(self, stage: str, message: str) -> None:
        """The run's stage (the kind's stage event: ``progress`` for a script)."""
        await self.emit(self.spec.stage_event, {"stage": stage, "message": message})

    async def run_sync(self, func: Callable[[], Any]) -> Any:
        """Run a database function on the thread that writes this run's events, so that a
        handler's own writes never contend with them (SQLite takes writes best from one thread)."""
        return await self._log._writer.run_sync(func)

    async def emit(self, event: str, data: dict[str, Any], *, part: str = "") -> None:
        self._flush_text()
        self._log.append(event, data, part=part, checkpoint=self._checkpoint(force=False))
        await asyncio.sleep(0)

    async def parallel(
        self, work: Mapping[str, Awaitable[T]] | Iterable[tuple[str, Awaitable[T]]]
    ) -> dict[str, T | Exception]:
        """Run each part's work at the same time. A part whose work raises a provider error,
        a time limit or ``RunFailed`` ends ``failed`` / ``timed_out`` with its reason (its text
        kept) while the others go on; one whose work returns ends ``succeeded`` unless it ended
        itself. Returns each part's result or exception. A cancel of the run stops them all."""
        items = list(work.items()) if isinstance(work, Mapping) else list(work)
        results: dict[str, T | Exception] = {}

        async def one(key: str, awaitable: Awaitable[T]) -> None:
            part = self.part(key)
            try:
                result = await awaitable
            except PartTimedOut as exc:
                part.end(PartStatus.TIMED_OUT, exc.code, exc.message)
                results[key] = exc
            except ProviderError as exc:
                part.end(PartStatus.FAILED, exc.kind.value, exc.message)
                results[key] = exc
            except RunFailed as exc:
                part.end(PartStatus.FAILED, exc.code, exc.message)
                results[key] = exc
            except RunLost:
                raise
            except Exception as exc:
                logger.exception("part %s of run %s failed", key, self.run.pk)
                part.end(PartStatus.FAILED, "internal_error", "This part failed unexpectedly.")
                results[key] = exc
            else:
                if part.is_active:
                    part.end(PartStatus.SUCCEEDED)
                results[key] = result

        try:
            async with asyncio.TaskGroup() as group:
                for key, awaitable in items:
                    group.create_task(one(key, awaitable), name=f"{self.run.pk}-{key}")
        except BaseExceptionGroup as group_error:
            lost = group_error.subgroup(RunLost)
            if lost is not None:
                raise lost.exceptions[0] from None
            raise group_error.exceptions[0] from None
        return {key: results[key] for key, _ in items if key in results}

    def ledger(self, part: str) -> Ledger:
        return Ledger(
            user_id=self.run.created_by_id,
            project_id=self.run.project_id,
            run_id=str(self.run.pk),
            part=part,
            correlation_id=self.run.correlation_id,
        )

    # ---- totals ------------------------------------------------------------------------------

    def usage_totals(self) -> tuple[int, int, bool]:
        """Input tokens, output tokens and whether every count was the provider's own."""
        parts = list(self.parts.values())
        return (
            sum(p.input_tokens for p in parts),
            sum(p.output_tokens for p in parts),
            all(p.usage_reported for p in parts),
        )

    def cost_total(self) -> Decimal:
        return sum((p.cost for p in self.parts.values()), Decimal("0"))

    def live_tokens_per_second(self) -> float:
        if self._first_token_mono is None:
            return 0.0
        seconds = time.monotonic() - self._first_token_mono
        _, out, _ = self.usage_totals()
        return round(out / seconds, 2) if seconds > 0.05 else 0.0

    def current_provider(self) -> tuple[str, str]:
        """The provider and model the run shows: its text part's, else the last one called."""
        part = self.parts.get(self.spec.text_part or "")
        if part is not None and part.provider:
            return part.provider, part.model
        return self.run.provider, self.run.model

    def metrics_due(self, part: str) -> bool:
        """Whether the metrics go with this part's chunk (a few times a second is enough for
        people, and spares the rendering)."""
        now = time.monotonic()
        if now - self._last_metrics.get(part, 0.0) < METRICS_INTERVAL_SECONDS:
            return False
        self._last_metrics[part] = now
        return True

    # ---- for the executor ----------------------------------------------------------------

    def flush(self) -> None:
        """Send the text not yet sent as chunk events."""
        self._flush_text()

    def run_columns(self) -> dict[str, Any]:
        """The run's columns as of the last emitted event."""
        inp, out, reported = self.usage_totals()
        provider, model = self.current_provider()
        text_part = self.parts.get(self.spec.text_part or "")
        return {
            "text": text_part.sent_text() if text_part else self.run.text,
            "provider": provider,
            "model": model,
            "input_tokens": inp,
            "output_tokens": out,
            "usage_reported": reported,
            "cost": self.cost_total(),
            "first_token_at": self.run.first_token_at,
            "attempts": list(self.run.attempts),
        }

    def checkpoint_now(self) -> Checkpoint:
        """The run's columns, and those of every part changed since the last checkpoint."""
        parts = {}
        for key, part in self.parts.items():
            if part.version != self._stored_versions.get(key):
                parts[key] = part.columns()
                self._stored_versions[key] = part.version
        new = frozenset(parts) - self._rows
        self._rows.update(new)
        return Checkpoint(run=self.run_columns(), parts=parts, new_parts=new)

    def final_parts(self, status: str, code: str = "", message: str = "") -> dict[str, dict]:
        """Every part's last columns, those still active ending as ``status``."""
        for part in self.parts.values():
            if part.is_active:
                if status == PartStatus.SUCCEEDED and part.status == PartStatus.WAITING:
                    part.end(PartStatus.SKIPPED)
                else:
                    part.end(status, code, message)
        return {key: part.columns() for key, part in self.parts.items()}

    def suspend(self) -> Checkpoint:
        """Stop this stretch's timers and return every part's columns, for a pause."""
        self._flush_text()
        self._closed = True
        for handle in (self._flush_handle, self._checkpoint_handle):
            if handle is not None:
                handle.cancel()
        checkpoint = self.checkpoint_now()
        checkpoint.parts = {key: part.columns() for key, part in self.parts.items()}
        checkpoint.new_parts = frozenset(checkpoint.parts)
        return checkpoint

    async def close(self, event: str, data: dict[str, Any], final: Final) -> bool:
        """Store the terminal event with the final columns (once; never interrupted by a late
        cancel). False when the run had already been ended elsewhere."""
        self._flush_text()
        self._closed = True
        for handle in (self._flush_handle, self._checkpoint_handle):
            if handle is not None:
                handle.cancel()
        future = self._log.close_nowait(event, data, final)
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

    def _switch_data(self, part: str, event: ProviderSwitch) -> dict[str, Any]:
        data: dict[str, Any] = {
            "from": event.from_provider,
            "to": event.to_provider,
            "reason": event.reason,
            "skipped": [skip.as_dict() for skip in event.skipped],
            "summary": event.summary,
        }
        if part != self.spec.text_part:
            data = {"part": part, **data}
        return data

    def _retry_data(self, part: str, event: Retrying) -> dict[str, Any]:
        seconds = max(1, round(event.delay))
        data: dict[str, Any] = {
            "provider": event.provider,
            "label": event.label,
            "code": event.kind,
            "message": event.message,
            "retry_in_seconds": round(event.delay, 3),
            "retry": event.retry,
            "summary": f"{event.label} {_RETRY_WORDS.get(event.kind, 'failed')}, retrying "
            f"in {seconds} s",
        }
        if part != self.spec.text_part:
            data = {"part": part, **data}
        return data

    def _on_attempt(self, part: Part) -> None:
        if part.key == self.spec.text_part or not self.spec.text_part:
            self.run.provider = part.provider
            self.run.model = part.model

    def _on_attempts(self, attempts: list[dict[str, Any]]) -> None:
        self.run.attempts = [*self.run.attempts, *attempts]

    def _on_delta(self, part: Part, text: str) -> None:
        if not text:
            return
        now = time.monotonic()
        first_words = part._first_token_mono is None
        part._take_delta(text, now)
        if self._first_token_mono is None:
            self._first_token_mono = now
            if self.run.first_token_at is None:
                self.run.first_token_at = timezone.now()
        if first_words:
            # A part's first words go out at once: the wait for them is what people feel.
            self._flush_text()
            return
        if self._flush_handle is not None:
            return
        wait = self._last_flush + load.chunk_interval() - now
        if wait <= 0:
            self._flush_text()
        else:
            self._flush_handle = self._loop.call_later(wait, self._flush_text)

    def _flush_text(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._closed:
            return
        pending = [part for part in self.parts.values() if part._pending]
        if not pending:
            return
        self._last_flush = time.monotonic()
        sending = []
        for part in pending:
            content = part._take_pending()
            if part.events.chunk:
                sending.append((part, content))
        if not sending:
            self._touch_checkpoint()
            return
        for index, (part, content) in enumerate(sending):
            last = index == len(sending) - 1
            self._log.append(
                part.events.chunk,
                part.events.chunk_data(part, content),
                part=part.key,
                checkpoint=self._checkpoint(force=False) if last else None,
            )

    def _touch_checkpoint(self) -> None:
        """Text of silent parts only: no event to carry it, so the checkpoint timer stores it."""
        checkpoint = self._checkpoint(force=False)
        if checkpoint is not None:
            self._log.checkpoint(checkpoint)

    def _checkpoint(self, *, force: bool) -> Checkpoint | None:
        """The columns to store with the event being appended, at most once a second (a timer
        stores the last ones when no further event comes)."""
        now = time.monotonic()
        due = now - self._last_checkpoint >= CHECKPOINT_INTERVAL_SECONDS
        if force or self._status_changed or due:
            self._last_checkpoint = now
            self._status_changed = False
            if self._checkpoint_handle is not None:
                self._checkpoint_handle.cancel()
                self._checkpoint_handle = None
            return self.checkpoint_now()
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
        self._log.checkpoint(self.checkpoint_now())


__all__ = [
    "LLMResult",
    "Part",
    "PartTimedOut",
    "RunContext",
    "RunFailed",
]
