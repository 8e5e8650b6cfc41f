"""A run's event log: stored first, then fanned out through the channel layer.

While a process executes a run, its ``RunLog`` numbers the events (``seq`` 1, 2, 3, ...) and hands
them to the process's ``EventWriter``, which stores every pending event of every run in one
transaction (group commit: the more load, the bigger each batch) and only then sends them to the
run's group ``run.<id>``. So the database always holds a gap-free prefix of each log, and any
viewer that sees a gap in the live messages (the channel layer drops messages when a channel is
full) can fill it from the database.

A run's terminal event is stored in the same transaction as the conditional update that ends the
run (``status`` still queued or running), so exactly one terminal event exists per run, whoever
ends it: the executor, a cancel of a queued run, or the reaper.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import logging
import time
import weakref
from asyncio import Future
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from generation.runs import fanout
from generation.runs.fanout import EVENT_MESSAGE_TYPE
from generation.runs.models import ACTIVE_STATUSES, Run, RunEvent, RunStatus

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset({"done", "cancelled", "error"})


@dataclass(slots=True)
class LogItem:
    run_id: UUID
    seq: int
    event: str
    data: dict[str, Any]
    html: str
    checkpoint: dict[str, Any] | None
    final: dict[str, Any] | None
    future: asyncio.Future[bool] | None
    at: datetime = field(default_factory=timezone.now)
    """When the event happened (stored as ``created_at``), before it waited for the writer."""


def event_message(run_id: object, seq: int, event: str, data: dict[str, Any], html: str) -> dict:
    return {
        "type": EVENT_MESSAGE_TYPE,
        "run_id": str(run_id),
        "seq": seq,
        "event": event,
        "data": data,
        "html": html,
    }


def text_from_events(events: Iterable[tuple[str, dict[str, Any]]], base: str = "") -> str:
    """The text a viewer holds after ``events``: chunks appended, a ``reset`` replacing it."""
    parts = [base] if base else []
    for event, data in events:
        if event == "chunk":
            parts.append(str(data.get("content", "")))
        elif event == "progress" and data.get("stage") == "reset":
            parts = [str(data.get("text", ""))]
        elif event in TERMINAL_EVENTS and "text" in data:
            parts = [str(data["text"])]
    return "".join(parts)


class RunLost(Exception):
    """The run was ended elsewhere (reaped or cancelled) while this process still executed it."""


class RunLog:
    """The event log of one run while this process executes it."""

    def __init__(
        self,
        run_id: UUID,
        last_seq: int,
        writer: EventWriter,
        render: Callable[[str, dict[str, Any]], str],
    ) -> None:
        self.run_id = run_id
        self.seq = last_seq
        self.render = render
        self._writer = writer
        self.lost = False

    def append(
        self, event: str, data: dict[str, Any], *, checkpoint: dict[str, Any] | None = None
    ) -> int:
        if self.lost:
            raise RunLost(str(self.run_id))
        self.seq += 1
        html = self.render(event, data)
        self._writer.put(
            LogItem(self.run_id, self.seq, event, data, html, checkpoint, None, None), self
        )
        return self.seq

    def checkpoint(self, fields: dict[str, Any]) -> None:
        """Store the run's columns as of the last event, without an event."""
        if not self.lost:
            self._writer.put(LogItem(self.run_id, self.seq, "", {}, "", fields, None, None), self)

    def close_nowait(
        self, event: str, data: dict[str, Any], final: dict[str, Any]
    ) -> asyncio.Future[bool]:
        """Queue the terminal event with the run's final columns; the future says whether it was
        stored (False: the run had already been ended elsewhere)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.lost:
            future.set_result(False)
            return future
        self.seq += 1
        self._writer.put(LogItem(self.run_id, self.seq, event, data, "", None, final, future), self)
        return future


_MIN_STORE_INTERVAL = 0.008
_BUSY_BATCH = 16
"""A busy writer (its last batch held at least ``_BUSY_BATCH`` events) stores at most every
``_MIN_STORE_INTERVAL`` seconds: events that arrive meanwhile share the next transaction
(SQLite's cost is per commit far more than per row). An idle one stores at once."""


class EventWriter:
    """Stores then publishes the events of every run this event loop executes.

    One database thread does every write of the loop (SQLite takes writes best from one
    thread): the event batches and the other writes handed to it with ``run_sync`` (starting,
    claiming, reaping runs, a handler's own saves). Event batches go first: between two jobs
    the writer stores whatever events are pending, so a burst of runs starting at once delays
    live events by one job at most, not by the whole burst.
    """

    def __init__(self) -> None:
        self._items: list[tuple[LogItem, RunLog]] = []
        self._jobs: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = (
            collections.deque()
        )
        self._wake = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="run-events"
        )
        # A context of its own: the writer outlives whichever request or run first needed it.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="run-event-writer", context=contextvars.Context()
        )

    def put(self, item: LogItem, log: RunLog) -> None:
        self._items.append((item, log))
        self._wake.set()

    async def run_sync(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func`` on the writer's database thread, after the events pending then."""
        future: Future[Any] = asyncio.get_running_loop().create_future()
        self._jobs.append((func, args, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        try:
            await self._serve()
        finally:
            for _, _, future in self._jobs:
                if not future.done():
                    future.set_exception(RuntimeError("the run event writer stopped"))
            self._executor.submit(connection.close)
            self._executor.shutdown(wait=False)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        last_store = 0.0
        last_size = 0
        while True:
            if not self._items and not self._jobs:
                await self._wake.wait()
            self._wake.clear()
            if self._items:
                since = loop.time() - last_store
                if last_size >= _BUSY_BATCH and since < _MIN_STORE_INTERVAL and not self._jobs:
                    await asyncio.sleep(_MIN_STORE_INTERVAL - since)
                last_store = loop.time()
                last_size = len(self._items)
                await self._store_pending(loop)
            if self._jobs:
                func, args, future = self._jobs.popleft()
                if future.cancelled():
                    continue
                try:
                    result = await loop.run_in_executor(
                        self._executor, _with_connection(func), *args
                    )
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)

    async def _store_pending(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._items = self._items, []
        try:
            outcome = await loop.run_in_executor(
                self._executor, _with_connection(_store_batch), batch
            )
        except Exception:
            logger.exception("storing %d run events failed; retrying", len(batch))
            self._items[:0] = batch
            await asyncio.sleep(0.5)
            return
        stored, lost_runs, finals = outcome
        for item, log in batch:
            if item.run_id in lost_runs:
                log.lost = True
        await _publish([item for item, _ in stored])
        for item, _ in batch:
            if item.future is not None and not item.future.done():
                item.future.set_result(finals.get((item.run_id, item.seq), False))


def _with_connection(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` on the writer thread: a lock held by another writer (SQLite) is waited out,
    a broken connection is dropped so that the next call reconnects."""

    def call(*args: Any) -> Any:
        for attempt in range(_LOCK_RETRIES):
            try:
                return func(*args)
            except OperationalError as exc:
                if "locked" not in str(exc) or attempt == _LOCK_RETRIES - 1:
                    connection.close()
                    raise
                time.sleep(0.02 * (attempt + 1))
            except DatabaseError:
                connection.close()
                raise
        raise AssertionError("unreachable")

    return call


_LOCK_RETRIES = 8


def _store_batch(
    batch: list[tuple[LogItem, RunLog]],
) -> tuple[list[tuple[LogItem, RunLog]], set[UUID], dict[tuple[UUID, int], bool]]:
    try:
        with transaction.atomic():
            return _store(batch)
    except IntegrityError:
        pass
    stored: list[tuple[LogItem, RunLog]] = []
    lost: set[UUID] = set()
    finals: dict[tuple[UUID, int], bool] = {}
    by_run: dict[UUID, list[tuple[LogItem, RunLog]]] = {}
    for pair in batch:
        by_run.setdefault(pair[0].run_id, []).append(pair)
    for run_id, items in by_run.items():
        try:
            with transaction.atomic():
                part_stored, part_lost, part_finals = _store(items)
        except IntegrityError:
            logger.warning("run %s was ended elsewhere; its executor stops", run_id)
            lost.add(run_id)
            continue
        stored.extend(part_stored)
        lost |= part_lost
        finals.update(part_finals)
    return stored, lost, finals


def _store(
    batch: list[tuple[LogItem, RunLog]],
) -> tuple[list[tuple[LogItem, RunLog]], set[UUID], dict[tuple[UUID, int], bool]]:
    rows: list[LogItem] = []
    stored: list[tuple[LogItem, RunLog]] = []
    lost: set[UUID] = set()
    finals: dict[tuple[UUID, int], bool] = {}
    checkpoints: dict[UUID, dict[str, Any]] = {}
    for item, log in batch:
        if item.run_id in lost:
            continue
        if item.final is not None:
            checkpoints.pop(item.run_id, None)
            updated = Run.objects.filter(pk=item.run_id, status__in=ACTIVE_STATUSES).update(
                **item.final, text_seq=item.seq
            )
            finals[(item.run_id, item.seq)] = bool(updated)
            if not updated:
                lost.add(item.run_id)
                continue
        elif item.checkpoint is not None:
            checkpoints[item.run_id] = {**item.checkpoint, "text_seq": item.seq}
        if not item.event:
            continue
        rows.append(item)
        stored.append((item, log))
    for run_id, fields in checkpoints.items():
        if run_id in lost:
            continue
        if not Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(**fields):
            lost.add(run_id)
    if lost:
        rows = [row for row in rows if row.run_id not in lost]
        stored = [pair for pair in stored if pair[0].run_id not in lost]
    _insert_events(rows)
    return stored, lost, finals


def _insert_events(items: list[LogItem]) -> None:
    """Insert event rows with one ``executemany`` (the ORM's per-object work, multiplied by
    thousands of events a second, was the writer's main cost)."""
    if not items:
        return
    meta = RunEvent._meta
    run = meta.get_field("run")
    data = meta.get_field("data")
    created = meta.get_field("created_at")
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in ("run_id", "seq", "event", "data", "created_at"))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s)"  # noqa: S608
    params = [
        (
            run.get_db_prep_value(item.run_id, connection),
            item.seq,
            item.event,
            data.get_db_prep_value(item.data, connection),
            created.get_db_prep_value(item.at, connection),
        )
        for item in items
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


async def _publish(items: list[LogItem]) -> None:
    if items:
        await fanout.publish(
            [event_message(i.run_id, i.seq, i.event, i.data, i.html) for i in items]
        )


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventWriter] = (
    weakref.WeakKeyDictionary()
)


def writer_for_loop() -> EventWriter:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = EventWriter()
        _writers[loop] = writer
    return writer


def append_terminal_event(
    run_id: UUID,
    *,
    expect: Iterable[str],
    event: str,
    data_for: Callable[[Run, str], dict[str, Any]],
    fields_for: Callable[[Run, str], dict[str, Any]],
    only_if: Callable[[Run], bool] | None = None,
) -> tuple[Run, int, dict[str, Any]] | None:
    """End a run that no process of ours is executing (sync; call inside no transaction).

    In one transaction: if the run's status is in ``expect``, its text is rebuilt from its stored
    events, ``fields_for(run, text)`` is saved, and the terminal event ``data_for(run, text)`` is
    stored with the next seq. Returns (run, seq, data), or None when the run was not in
    ``expect`` (someone else ended it). Publish the event after the call returns.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in set(expect):
            return None
        if only_if is not None and not only_if(run):
            return None
        last_seq = run.events.aggregate(last=Max("seq"))["last"] or 0
        tail = run.events.filter(seq__gt=run.text_seq).order_by("seq").values_list("event", "data")
        text = text_from_events(tail, base=run.text)
        fields = fields_for(run, text)
        data = data_for(run, text)
        fields["text_seq"] = last_seq + 1
        Run.objects.filter(pk=run_id).update(**fields)
        RunEvent.objects.create(run=run, seq=last_seq + 1, event=event, data=data)
        for name, value in fields.items():
            setattr(run, name, value)
        return run, last_seq + 1, data


async def publish_event(run_id: object, seq: int, event: str, data: dict[str, Any]) -> None:
    await fanout.publish([event_message(run_id, seq, event, data, "")])
