"""A run's event log: stored first, then fanned out through the channel layer.

While a process executes a run, its ``RunLog`` numbers the events (``seq`` 1, 2, 3, ...) and hands
them to the process's ``EventWriter``, which stores every pending event of every run in one
transaction (group commit: the more load, the bigger each batch) and only then sends them to the
run's group ``run.<id>``. So the database always holds a gap-free prefix of each log, and any
viewer that sees a gap in the live messages (the channel layer drops messages when a channel is
full) can fill it from the database.

Each event may belong to a part of the run (``RunEvent.part``); checkpoints store the run's
columns and those of the parts that changed. A run's terminal event is stored in the same
transaction as the conditional update that ends the run (status still active) and its parts,
and as the kind's ``on_end``, so exactly one terminal event exists per run, whoever ends it:
the executor, a cancel of a run no process executes, or the reaper; and the product's own rows
agree with the run as soon as it has ended.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import json
import logging
import os
import time
import weakref
from asyncio import Future
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from asgiref.sync import SyncToAsync
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Field, Max
from django.utils import timezone

from generation.runs import fanout
from generation.runs.fanout import EVENT_MESSAGE_TYPE
from generation.runs.kinds import KindSpec, UnknownRunKind, spec_for
from generation.runs.models import (
    ACTIVE_PART_STATUSES,
    ACTIVE_STATUSES,
    Run,
    RunEvent,
    RunPart,
)

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset({"done", "cancelled", "error"})


@dataclass(slots=True)
class Checkpoint:
    """Columns to store with an event: the run's, and those of the parts that changed
    (``new_parts``: those that have no row yet)."""

    run: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_parts: frozenset[str] = frozenset()


@dataclass(slots=True)
class Final:
    """The run's and its parts' last columns, stored with the terminal event."""

    run: dict[str, Any]
    parts: dict[str, dict[str, Any]]
    kind: str
    status: str
    run_id: UUID | None = None


@dataclass(slots=True)
class LogItem:
    run_id: UUID
    seq: int
    event: str
    data: dict[str, Any]
    part: str
    html: str
    checkpoint: Checkpoint | None
    final: Final | None
    future: asyncio.Future[bool] | None
    at: datetime = field(default_factory=timezone.now)
    """When the event happened (stored as ``created_at``), before it waited for the writer."""


def event_message(
    run_id: object, seq: int, event: str, data: dict[str, Any], html: str, part: str = ""
) -> dict:
    return {
        "type": EVENT_MESSAGE_TYPE,
        "run_id": str(run_id),
        "seq": seq,
        "event": event,
        "part": part,
        "data": data,
        "html": html,
    }


RESET_STAGE = "reset"


def is_reset(event: str, data: dict[str, Any]) -> bool:
    """A revision that replaces a part's text: ``progress`` (or the kind's stage event) with
    ``stage: "reset"`` and the new ``text``."""
    return data.get("stage") == RESET_STAGE and "text" in data


def text_from_events(
    events: Iterable[tuple[str, dict[str, Any]]],
    base: str = "",
    chunk_events: Iterable[str] = ("chunk",),
) -> str:
    """The text a viewer holds after a part's ``events``: chunks appended, a reset replacing
    it, a terminal event's ``text`` (the run's text part) replacing it."""
    names = frozenset(chunk_events)
    pieces = [base] if base else []
    for event, data in events:
        if event in names and "content" in data:
            pieces.append(str(data.get("content", "")))
        elif is_reset(event, data):
            pieces = [str(data.get("text", ""))]
        elif event in TERMINAL_EVENTS and "text" in data:
            pieces = [str(data["text"])]
    return "".join(pieces)


class RunLost(Exception):
    """The run was ended elsewhere (reaped or cancelled) while this process still executed it."""


class RunLog:
    """The event log of one run while this process executes it."""

    def __init__(
        self,
        run_id: UUID,
        last_seq: int,
        writer: EventWriter,
        render: Callable[[str, dict[str, Any], str], str],
    ) -> None:
        self.run_id = run_id
        self.seq = last_seq
        self.render = render
        self._writer = writer
        self.lost = False

    def append(
        self,
        event: str,
        data: dict[str, Any],
        *,
        part: str = "",
        checkpoint: Checkpoint | None = None,
    ) -> int:
        if self.lost:
            raise RunLost(str(self.run_id))
        self.seq += 1
        html = self.render(event, data, part)
        self._writer.put(
            LogItem(self.run_id, self.seq, event, data, part, html, checkpoint, None, None), self
        )
        return self.seq

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store the run's and parts' columns as of the last event, without an event."""
        if not self.lost:
            self._writer.put(
                LogItem(self.run_id, self.seq, "", {}, "", "", checkpoint, None, None), self
            )

    def close_nowait(self, event: str, data: dict[str, Any], final: Final) -> asyncio.Future[bool]:
        """Queue the terminal event with the final columns; the future says whether it was
        stored (False: the run had already been ended elsewhere)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.lost:
            future.set_result(False)
            return future
        self.seq += 1
        self._writer.put(
            LogItem(self.run_id, self.seq, event, data, "", "", None, final, future), self
        )
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
    live events by one job at most, not by the whole burst. A job marked ``priority`` (the
    heartbeat) goes ahead of the other jobs.

    The database thread knows its loop the way ``sync_to_async``'s threads do, so that sync
    code it runs which calls ``async_to_sync`` (a push to a channel layer group after a commit)
    runs that coroutine on the loop, instead of starting a thread and an event loop of its own
    for every call (which, once per stored step, was a third of the writer's time).
    """

    def __init__(self) -> None:
        self._items: list[tuple[LogItem, RunLog]] = []
        self._jobs: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = (
            collections.deque()
        )
        self._wake = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="run-events",
            initializer=_know_loop,
            initargs=(asyncio.get_running_loop(),),
        )
        # A context of its own: the writer outlives whichever request or run first needed it.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="run-event-writer", context=contextvars.Context()
        )

    def put(self, item: LogItem, log: RunLog) -> None:
        self._items.append((item, log))
        self._wake.set()

    async def run_sync(self, func: Callable[..., Any], *args: Any, priority: bool = False) -> Any:
        """Run ``func`` on the writer's database thread, after the events pending then (and
        before every job not marked ``priority``, when it is)."""
        future: Future[Any] = asyncio.get_running_loop().create_future()
        if priority:
            self._jobs.appendleft((func, args, future))
        else:
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
        await publish_many([item for item, _ in stored])
        for item, _ in batch:
            if item.future is not None and not item.future.done():
                item.future.set_result(finals.get((item.run_id, item.seq), False))


def _know_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Mark this thread as working for ``loop`` (what ``SyncToAsync`` sets in its threads):
    ``async_to_sync`` called here then runs its coroutine on ``loop``."""
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()


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
    ended: list[Final] = []
    checkpoints: dict[UUID, tuple[dict[str, Any], dict[str, dict[str, Any]], set[str]]] = {}
    for item, log in batch:
        if item.run_id in lost:
            continue
        if item.final is not None:
            checkpoints.pop(item.run_id, None)
            stored_final = _store_final(item.run_id, item.seq, item.final)
            finals[(item.run_id, item.seq)] = stored_final
            if not stored_final:
                lost.add(item.run_id)
                continue
            item.final.run_id = item.run_id
            ended.append(item.final)
        elif item.checkpoint is not None:
            run_fields, part_fields, new_parts = checkpoints.setdefault(
                item.run_id, ({}, {}, set())
            )
            if item.checkpoint.run:
                run_fields.update(item.checkpoint.run, text_seq=item.seq)
            for key, fields in item.checkpoint.parts.items():
                part_fields.setdefault(key, {}).update(fields, text_seq=item.seq)
            new_parts.update(item.checkpoint.new_parts)
        if not item.event:
            continue
        rows.append(item)
        stored.append((item, log))
    _store_checkpoints(
        {run_id: pair for run_id, pair in checkpoints.items() if run_id not in lost}, lost
    )
    if lost:
        rows = [row for row in rows if row.run_id not in lost]
        stored = [pair for pair in stored if pair[0].run_id not in lost]
    _insert_events(rows)
    for final in ended:
        if final.run_id is not None and final.run_id not in lost:
            run_ended(final.run_id, final.kind, final.status)
    return stored, lost, finals


def _store_checkpoints(
    checkpoints: dict[UUID, tuple[dict[str, Any], dict[str, dict[str, Any]], set[str]]],
    lost: set[UUID],
) -> None:
    """Store the checkpoints of a batch with one ``executemany`` per table and set of columns
    (an ORM update per run and part, thousands a second, was most of the writer's time). A run
    no longer active (ended elsewhere) is lost: its columns and its parts' are not stored."""
    if not checkpoints:
        return
    rows = [((run_id,), fields) for run_id, (fields, _, _) in checkpoints.items() if fields]
    updated = _update_many(Run, ("id",), rows, only_active=True)
    if updated < len(rows) or len(rows) < len(checkpoints):
        active = set(
            Run.objects.filter(pk__in=list(checkpoints), status__in=ACTIVE_STATUSES).values_list(
                "pk", flat=True
            )
        )
        lost.update(set(checkpoints) - active)
    part_rows = []
    for run_id, (_, parts, new_parts) in checkpoints.items():
        if run_id in lost:
            continue
        for key, fields in parts.items():
            if key in new_parts:
                part_save(run_id, key, fields)
            else:
                part_rows.append(((run_id, key), fields))
    _update_many(RunPart, ("run", "key"), part_rows)


def _update_many(
    model: type[Run] | type[RunPart],
    where: tuple[str, ...],
    rows: list[tuple[tuple[Any, ...], dict[str, Any]]],
    *,
    only_active: bool = False,
) -> int:
    """``UPDATE`` each row (``where`` values, then its columns) with one ``executemany`` per set
    of column names; the rows updated."""
    if not rows:
        return 0
    meta = model._meta
    quote = connection.ops.quote_name
    keys = [cast(Field, meta.get_field(name)) for name in where]
    groups: dict[tuple[str, ...], list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
    for values, fields in rows:
        groups.setdefault(tuple(sorted(fields)), []).append((values, fields))
    total = 0
    with connection.cursor() as cursor:
        for names, items in groups.items():
            columns = [cast(Field, meta.get_field(name)) for name in names]
            assignments = ", ".join(f"{quote(str(column.column))} = %s" for column in columns)
            conditions = " AND ".join(f"{quote(str(key.column))} = %s" for key in keys)
            statuses: list[str] = []
            if only_active:
                statuses = [str(status) for status in ACTIVE_STATUSES]
                conditions += f" AND {quote('status')} IN ({', '.join(['%s'] * len(statuses))})"
            sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
            params = [
                [column.get_db_prep_save(fields[column.name], connection) for column in columns]
                + [
                    key.get_db_prep_value(value, connection)
                    for key, value in zip(keys, values, strict=True)
                ]
                + statuses
                for values, fields in items
            ]
            cursor.executemany(sql, params)
            total += max(0, cursor.rowcount)
    return total


def part_save(run_id: UUID, key: str, fields: dict[str, Any]) -> None:
    """Store a part's columns, creating its row the first time."""
    if not RunPart.objects.filter(run_id=run_id, key=key).update(**fields):
        RunPart.objects.create(run_id=run_id, key=key, **fields)


def _store_final(run_id: UUID, seq: int, final: Final) -> bool:
    updated = Run.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES).update(
        **final.run, text_seq=seq
    )
    if not updated:
        return False
    for key, fields in final.parts.items():
        part_save(run_id, key, {**fields, "text_seq": seq})
    return True


def run_ended(run_id: UUID, kind: str, status: str) -> None:
    """Call the kind's ``on_end`` inside the ending's transaction (in a savepoint of its own:
    a product's failure is logged and never undoes the ending)."""
    try:
        spec: KindSpec | None = spec_for(kind)
    except UnknownRunKind:
        spec = None
    if spec is None or spec.on_end is None:
        return
    run = Run.objects.select_related("project").get(pk=run_id)
    try:
        with transaction.atomic():
            spec.on_end(run, status)
    except Exception:
        logger.exception("the %s kind's on_end failed for run %s", kind, run_id)


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
    names = ("run_id", "seq", "event", "part", "data", "created_at")
    columns = ", ".join(quote(name) for name in names)
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)"  # noqa: S608
    params = [
        (
            run.get_db_prep_value(item.run_id, connection),
            item.seq,
            item.event,
            item.part,
            data.get_db_prep_value(item.data, connection),
            created.get_db_prep_value(item.at, connection),
        )
        for item in items
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def jsonable(value: Any) -> Any:
    """``value`` as it reads back from a JSON column (dates, decimals and UUIDs as strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


async def publish_many(items: list[LogItem]) -> None:
    if items:
        await fanout.publish(
            [event_message(i.run_id, i.seq, i.event, i.data, i.html, i.part) for i in items]
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


@dataclass(slots=True)
class Ended:
    """A run ended by ``end_without_executor``: publish its terminal event after the call."""

    run: Run
    seq: int
    event: str
    data: dict[str, Any]


def texts_from_rows(
    run: Run,
    parts: Iterable[RunPart],
    rows: Iterable[tuple[int, str, str, dict[str, Any]]],
    spec: KindSpec | None,
) -> tuple[str, dict[str, str]]:
    """The run's text and each part's, from their stored checkpoints and the events after them
    (``rows``: seq, event, part, data, in order). Events of no part (the run's own, and those
    stored before runs had parts) belong to the text part."""
    rows = list(rows)
    chunk_events = spec.chunk_events if spec is not None else frozenset({"chunk"})
    text_part = spec.text_part if spec is not None else "main"
    texts = {}
    for part in parts:
        tail = [
            (event, data)
            for seq, event, key, data in rows
            if seq > part.text_seq and (key == part.key or (not key and part.key == text_part))
        ]
        texts[part.key] = text_from_events(tail, base=part.text, chunk_events=chunk_events)
    run_tail = [
        (event, data)
        for seq, event, key, data in rows
        if seq > run.text_seq and (key == text_part or not key)
    ]
    return text_from_events(run_tail, base=run.text, chunk_events=chunk_events), texts


def stored_texts(run: Run, spec: KindSpec | None) -> tuple[str, dict[str, str]]:
    """The run's text and each part's, from their checkpoints and the events stored after."""
    parts = list(RunPart.objects.filter(run_id=run.pk))
    since = min([run.text_seq, *(part.text_seq for part in parts)])
    rows = (
        run.events.filter(seq__gt=since).order_by("seq").values_list("seq", "event", "part", "data")
    )
    return texts_from_rows(run, parts, rows, spec)


def end_without_executor(
    run_id: UUID,
    *,
    expect: Iterable[str],
    status: str,
    event: str,
    data_for: Callable[[Run, str], dict[str, Any]],
    fields: dict[str, Any],
    part_status: str,
    part_error: tuple[str, str] = ("", ""),
    only_if: Callable[[Run], bool] | None = None,
) -> Ended | None:
    """End a run that no process of ours is executing (sync; call inside no transaction).

    In one transaction: if the run's status is in ``expect`` (and ``only_if(run)``), its text
    and its parts' are rebuilt from the stored events, active parts end as ``part_status``, the
    run takes ``status`` and ``fields``, the terminal event ``data_for(run, text)`` is stored
    with the next seq, and the kind's ``on_end`` runs. None when someone else ended it first.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in set(expect):
            return None
        if only_if is not None and not only_if(run):
            return None
        try:
            spec: KindSpec | None = spec_for(run.kind)
        except UnknownRunKind:
            spec = None
        last_seq = run.events.aggregate(last=Max("seq"))["last"] or 0
        text, part_texts = stored_texts(run, spec)
        now = timezone.now()
        seq = last_seq + 1
        for key, part_text in part_texts.items():
            RunPart.objects.filter(run_id=run.pk, key=key).update(text=part_text, text_seq=seq)
        RunPart.objects.filter(run_id=run.pk, status__in=ACTIVE_PART_STATUSES).update(
            status=part_status,
            finished_at=now,
            error_code=part_error[0],
            error_message=part_error[1],
        )
        columns = {
            **fields,
            "status": status,
            "text": text,
            "text_seq": seq,
            "finished_at": now,
            "wake_at": None,
            "lease_owner": "",
            "lease_until": None,
        }
        Run.objects.filter(pk=run_id).update(**columns)
        for name, value in columns.items():
            setattr(run, name, value)
        data = data_for(run, text)
        RunEvent.objects.create(run=run, seq=seq, event=event, data=data)
        run_ended(run.pk, run.kind, status)
        return Ended(run, seq, event, data)


async def publish_event(run_id: object, seq: int, event: str, data: dict[str, Any]) -> None:
    await fanout.publish([event_message(run_id, seq, event, data, "")])


def append_while_waiting(
    run_id: UUID, make: Callable[[], list[tuple[str, dict[str, Any], str]]]
) -> list[LogItem]:
    """Append events to a run that no process executes because it waits (paused, or between
    steps), sync, in the caller's transaction: ``make()`` (called only then, under the run's
    lock) returns ``(event, data, part)`` items, stored with the next seqs. Nothing when the
    run is executing or ended (its executor then writes, or nothing may). Publish the items
    after the commit (``publish_many``)."""
    now = timezone.now()
    waiting = Run.objects.filter(
        pk=run_id, status__in=ACTIVE_STATUSES, wake_at__isnull=False
    ).exclude(lease_until__gt=now)
    if not waiting.update(heartbeat_at=now):
        return []
    items = make()
    if not items:
        return []
    last = RunEvent.objects.filter(run_id=run_id).aggregate(last=Max("seq"))["last"] or 0
    logged = [
        LogItem(run_id, last + index, event, data, part, "", None, None, None)
        for index, (event, data, part) in enumerate(items, start=1)
    ]
    RunEvent.objects.bulk_create(
        RunEvent(run_id=run_id, seq=i.seq, event=i.event, part=i.part, data=i.data, created_at=i.at)
        for i in logged
    )
    return logged
