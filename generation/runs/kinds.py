"""Run kinds: each product declares its kind once, with ``register(KindSpec(...))``.

A spec says everything the core needs to execute, show and end a run of its kind, so that the
core knows no product:

- ``handler`` (coroutine mode: ``async def handler(ctx: RunContext) -> dict``, the whole run in
  one coroutine) or ``step`` (step mode: ``async def step(ctx: StepContext) -> Again | Done``,
  one short step at a time, nothing held between steps);
- ``panel``: the template whose partials render the run for people: ``panel`` (the snapshot and
  the closing swap) and ``live`` (the panel wrapped in its WebSocket connection); the live
  fragments of events come from ``live`` (a function of the kind, default: the stage line, the
  provider-switch list and text resets) and from the core's text append for chunks;
- ``parts``: the parts created with the run (key and label), ``text_part``: the part whose text
  the run's ``text`` mirrors, ``part_events``: each part's chunk event (name and data);
- ``stage_event`` and ``stage_labels``: the run-level event that names the stage, and the words
  people see for each stage;
- time limits: ``timeout_seconds`` for the whole run (default ``AURA_STREAM_TIMEOUT_SECONDS``),
  ``part_timeout_seconds`` and ``first_token_timeout_seconds`` for each part's stream;
- ``done_fields``: the data of the ``done`` event, from what the run produced;
- ``counts_against_limits``: whether its runs count as streams (``AURA_MAX_STREAMS_PER_USER``,
  ``AURA_MAX_CONCURRENT_STREAMS``);
- ``on_end(run, status)``: called on every ending (succeeded, failed, cancelled with or without a
  live executor, interrupted by the reaper) inside the transaction that stores the terminal
  event, so the product's own rows agree with the run at once;
- ``cancel``: step mode only, called once when a cancel is requested (an external job's own
  cancel), before the run ends ``cancelled``;
- ``on_step(ctx)``: step mode only, called inside the transaction that stores each step that
  does not end the run, so that a product's own rows follow the run's progress.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aura_site.money import plain

if TYPE_CHECKING:
    from generation.runs.context import RunContext
    from generation.runs.models import Run
    from generation.runs.stepping import StepContext, StepResult

Handler = Callable[["RunContext"], Awaitable[dict[str, Any]]]
StepHandler = Callable[["StepContext"], Awaitable["StepResult"]]
CancelHandler = Callable[["StepContext"], Awaitable[None]]
ChunkData = Callable[[Any, str], dict[str, Any]]
"""``(part, content) -> data`` of a chunk event: ``part`` is the live part (key, provider,
output tokens, cost, tokens per second, the handler's ``extra``)."""
LiveRenderer = Callable[[Any, str, dict[str, Any], str], str | None]
"""``(view, event, data, part_key) -> html``: the out-of-band fragments of an event (None: the
core's default fragments). For a live run ``view`` is its ``RunContext``; for a viewer that
missed live messages it is a ``StoredView`` (the run and its kind, no live parts)."""
MetricsRenderer = Callable[[Any, str], str]
"""``(view, part_key) -> html``: the metrics fragments sent with a part's chunks (a few times
a second at most)."""
TextRenderer = Callable[[Any, str, str, str], str]
"""``(view, part dom id, text before, content) -> html``: the out-of-band fragments that show
``content`` arriving after ``text before`` in a part's text element (default: the content
appended, escaped). ``view`` is the run's ``RunContext``."""


def default_chunk_data(part: Any, content: str) -> dict[str, Any]:
    """``chunk``: ``content``, ``tokens`` and ``cost`` so far, ``tokens_per_second``,
    ``provider`` (../shared/API.md, "SSE events of a run")."""
    return {
        "content": content,
        "tokens": part.output_tokens,
        "cost": plain(part.cost),
        "tokens_per_second": part.tokens_per_second,
        "provider": part.provider,
    }


@dataclass(frozen=True, slots=True)
class PartEvents:
    """The chunk event of a part: its name and its data. A part whose ``chunk`` is empty is
    silent: its text is kept (checkpointed, in its part) but never sent as events."""

    chunk: str = "chunk"
    chunk_data: ChunkData = default_chunk_data


@dataclass(frozen=True, slots=True)
class PartSpec:
    key: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class DoneInfo:
    """What a run produced, for the ``done`` event (``KindSpec.done_fields``)."""

    run_id: str
    text: str
    provider: str
    model: str
    usage: dict[str, Any]
    cost: str
    ttft_ms: int | None
    tokens_per_second: float
    duration_ms: int
    part_costs: dict[str, str]
    extra: dict[str, Any]


def default_done_fields(info: DoneInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "text": info.text,
        "provider": info.provider,
        "model": info.model,
        "usage": info.usage,
        "cost": info.cost,
        "ttft_ms": info.ttft_ms,
        "tokens_per_second": info.tokens_per_second,
        "duration_ms": info.duration_ms,
        **info.extra,
    }


def default_run_event_fields(run: Run) -> dict[str, Any]:
    """``run``: the first event of every run."""
    return {
        "run_id": str(run.pk),
        "kind": run.kind,
        "provider": run.provider,
        "model": run.model,
        "expected_tokens": run.expected_tokens,
        "expected_cost": plain(run.expected_cost),
        "cost_ceiling": plain(run.cost_ceiling),
    }


@dataclass(frozen=True)
class KindSpec:
    name: str
    label: str
    panel: str = "runs/panel.html"
    handler: Handler | None = None
    step: StepHandler | None = None
    cancel: CancelHandler | None = None
    parts: Sequence[PartSpec] = (PartSpec("main", "Text"),)
    text_part: str | None = "main"
    part_events: Mapping[str, PartEvents] = field(default_factory=dict)
    stage_event: str = "progress"
    stage_labels: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float | Callable[[], float] | None = None
    """The whole run's limit (a number, or a function read when the run starts)."""
    part_timeout_seconds: float | None = None
    first_token_timeout_seconds: float | None = None
    step_timeout_seconds: float = 120.0
    done_fields: Callable[[DoneInfo], dict[str, Any]] = default_done_fields
    run_event_fields: Callable[[Run], dict[str, Any]] = default_run_event_fields
    counts_against_limits: bool = True
    on_end: Callable[[Run, str], None] | None = None
    on_step: Callable[[StepContext], None] | None = None
    on_pause: Callable[[Run], None] | None = None
    """Called (sync, on the writer's thread) once a coroutine-mode run's pause is stored."""
    live: LiveRenderer | None = None
    live_metrics: MetricsRenderer | None = None
    live_text: TextRenderer | None = None
    panel_context: Callable[[Any], dict[str, Any]] | None = None
    """``(snapshot) -> extra context`` of the panel template, beside ``run``, ``parts``, ``m``,
    ``text``, ``switches``, ``stage``, ``can_edit``."""
    part_dom_id: Callable[[str, str], str] | None = None
    """``(run dom id, part key) -> dom id`` of a part (default ``<run dom id>-<key>``); a part's
    text element is ``<part dom id>-text``."""

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.step is None):
            raise ValueError(f"kind {self.name!r}: give a handler or a step, not both or neither")

    @property
    def mode(self) -> Literal["coroutine", "steps"]:
        return "steps" if self.step is not None else "coroutine"

    def events_of(self, part: str) -> PartEvents:
        return self.part_events.get(part) or self.part_events.get("*") or PartEvents()

    @property
    def chunk_events(self) -> frozenset[str]:
        names = {events.chunk for events in self.part_events.values() if events.chunk}
        return frozenset(names) | {"chunk"}

    def run_timeout(self, default: float) -> float:
        limit = self.timeout_seconds
        if callable(limit):
            return float(limit())
        return float(limit) if limit else default

    def stage_label(self, stage: str, message: str = "") -> str:
        return message or self.stage_labels.get(stage, stage)

    def dom_id_of(self, run_dom_id: str, part: str) -> str:
        if self.part_dom_id is not None:
            return self.part_dom_id(run_dom_id, part)
        return f"{run_dom_id}-{part}"


_registry: dict[str, KindSpec] = {}


class UnknownRunKind(LookupError):
    pass


def register(spec: KindSpec) -> KindSpec:
    """Declare a kind (from the product's ``AppConfig.ready``). Declaring the same name again
    replaces it."""
    _registry[spec.name] = spec
    return spec


def spec_for(kind: str) -> KindSpec:
    try:
        return _registry[kind]
    except KeyError:
        raise UnknownRunKind(f"No run kind {kind!r} is registered.") from None


def kind_label(kind: str) -> str:
    spec = _registry.get(kind)
    return spec.label if spec is not None else kind.replace("_", " ").capitalize()


def registered_kinds() -> list[str]:
    return sorted(_registry)


@contextmanager
def registered(spec: KindSpec) -> Iterator[KindSpec]:
    """Declare ``spec`` inside the block, then restore what was there (tests, benchmarks)."""
    previous = _registry.get(spec.name)
    _registry[spec.name] = spec
    try:
        yield spec
    finally:
        if previous is None:
            _registry.pop(spec.name, None)
        else:
            _registry[spec.name] = previous
