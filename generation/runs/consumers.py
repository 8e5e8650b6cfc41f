"""The browser's live view of a run: ``/ws/runs/<run_id>/``, for htmx's ws extension.

``connect`` authorises (anonymous: close 4401; not a member: close 4404), joins the run's group,
accepts last, then sends the whole panel as it stands (a late viewer or a reconnect is whole at
once) and the live events after it as out-of-band fragments. Events come numbered; one that
arrives after a gap makes the consumer read the missing ones from the database, and a quiet
spell makes it look there too, so lost live messages delay a viewer but never leave a hole. The
terminal event swaps the whole panel (final metrics) and closes the socket (1000).

A client message ``{"action": "cancel"}`` cancels the run for editors and owners; viewers get
an error notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404

from aura_site.projects.models import Role
from generation.runs import conf, fanout, fragments, launch
from generation.runs.db import db_call
from generation.runs.events import TERMINAL_EVENTS
from generation.runs.kinds import KindSpec, UnknownRunKind, spec_for
from generation.runs.models import Run
from generation.runs.selectors import (
    Snapshot,
    panel_context,
    run_events_after,
    run_for_user,
    run_snapshot,
)
from generation.runs.services import run_cancel

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
_BATCH_LIMIT = 200


_ENDING_READS = 50
_ENDING_READ_SECONDS = 0.1


class RunConsumer(AsyncWebsocketConsumer):
    """Live events reach it through ``fanout.subscribe``, never through a channel of its own:
    ``channel_layer_alias = None`` keeps Channels from opening one, whose failure while the
    channel layer is unreachable (Redis restarting) would end the socket with 1011."""

    channel_layer_alias = None
    run: Run
    can_edit: bool = False
    last_seq: int = 0
    _outbox: list[str] | None = None

    async def connect(self) -> None:
        launch.note_loop()
        self._reader: asyncio.Task[None] | None = None
        self._subscription: contextlib.AsyncExitStack | None = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self._ended = False
        # Subscribed before the snapshot is read, so that no event falls between the two.
        self._subscription = contextlib.AsyncExitStack()
        inbox = await self._subscription.enter_async_context(fanout.subscribe(run_id))
        try:
            run, membership = await db_call(run_for_user, user, run_id)
        except Http404:
            await self._subscription.aclose()
            self._subscription = None
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.run = run
        try:
            self.spec: KindSpec | None = spec_for(run.kind)
        except UnknownRunKind:
            self.spec = None
        self.can_edit = membership.can(Role.EDITOR)
        await self.accept()
        await self._send_snapshot(await db_call(run_snapshot, run.pk))
        if not self._ended:
            self._reader = asyncio.get_running_loop().create_task(self._read(inbox))

    async def disconnect(self, code: int) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        subscription = getattr(self, "_subscription", None)
        if subscription is not None:
            self._subscription = None
            await subscription.aclose()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "{}")
        except ValueError:
            message = {}
        action = message.get("action") if isinstance(message, dict) else None
        if action != "cancel":
            await self._notice("Unknown action.", error=True)
            return
        if not self.can_edit:
            await self._notice("Only editors and owners can cancel a run.", error=True)
            return
        try:
            await run_cancel(self.scope["user"], self.run.pk, wait=0)
        except (Http404, PermissionDenied):
            await self._notice("You can no longer cancel this run.", error=True)
            return
        await self._notice("Cancelling…")

    # ---- internals ----------------------------------------------------------------------

    async def _read(self, inbox: asyncio.Queue[dict[str, Any]]) -> None:
        """Show live events in order; after a quiet spell, look for stored ones (a live message
        may have been lost)."""
        quiet = conf.idle_poll_seconds()
        try:
            while not self._ended:
                try:
                    message = await asyncio.wait_for(inbox.get(), timeout=quiet)
                except TimeoutError:
                    missing = await db_call(run_events_after, self.run.pk, self.last_seq)
                    for stored in missing:
                        await self._apply(stored.seq, stored.event, stored.data, "", stored.part)
                        if self._ended:
                            break
                    continue
                batch = [message]
                while len(batch) < _BATCH_LIMIT:
                    try:
                        batch.append(inbox.get_nowait())
                    except asyncio.QueueEmpty:
                        break
                self._outbox = []
                try:
                    for item in batch:
                        await self._apply(
                            item["seq"],
                            item["event"],
                            item["data"],
                            item["html"],
                            str(item.get("part") or ""),
                        )
                finally:
                    await self._flush_outbox()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _disconnected(exc):
                return
            logger.exception("the live view of run %s failed", self.run.pk)
            with contextlib.suppress(Exception):
                await self.close(code=1011)

    async def _apply(
        self, seq: int, event: str, data: dict[str, Any], html: str, part: str
    ) -> None:
        if self._ended or seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            missing = await db_call(run_events_after, self.run.pk, self.last_seq, seq)
            for stored in missing:
                if stored.seq <= self.last_seq:
                    continue
                await self._show(stored.seq, stored.event, stored.data, "", stored.part)
                if self._ended:
                    return
            if self.last_seq != seq - 1:
                return
        await self._show(seq, event, data, html, part)

    async def _show(self, seq: int, event: str, data: dict[str, Any], html: str, part: str) -> None:
        self.last_seq = seq
        if event in TERMINAL_EVENTS:
            await self._flush_outbox()
            snapshot = await db_call(run_snapshot, self.run.pk)
            for _ in range(_ENDING_READS):
                # The terminal event can be read a moment before the run's row says it ended:
                # the panel waits for the row, and the socket closes after it either way.
                if not snapshot.run.is_active:
                    break
                await asyncio.sleep(_ENDING_READ_SECONDS)
                snapshot = await db_call(run_snapshot, self.run.pk)
            await self._send_snapshot(snapshot, ended=True)
            return
        if not html and self._draws_own_text(event, part):
            # A kind that draws its own text (section by section, say) cannot be caught up
            # from a stored chunk alone: the panel as it stands makes the viewer whole.
            await self._flush_outbox()
            await self._send_snapshot(await db_call(run_snapshot, self.run.pk))
            return
        if not html and self.spec is not None:
            html = fragments.render_stored_event(self.run, self.spec, event, data, part)
        if not html:
            return
        if self._outbox is not None:
            self._outbox.append(html)
        else:
            await self.send(text_data=html)

    def _draws_own_text(self, event: str, part: str) -> bool:
        spec = self.spec
        return (
            spec is not None
            and spec.live_text is not None
            and bool(part)
            and event == spec.events_of(part).chunk
        )

    async def _flush_outbox(self) -> None:
        """Send the fragments of the events read together as one message (htmx swaps every
        top-level element of a message), so a viewer that fell behind catches up in one go."""
        outbox, self._outbox = self._outbox, None
        if outbox and not self._ended:
            await self.send(text_data="".join(outbox))

    async def _send_snapshot(self, snapshot: Snapshot, *, ended: bool = False) -> None:
        self.run = snapshot.run
        self.last_seq = max(self.last_seq, snapshot.last_seq)
        if snapshot.spec is not None:
            # On the database thread: a kind's panel context may read what its run produced.
            context = await db_call(panel_context, snapshot, self.can_edit)
            await self.send(text_data=fragments.render_panel(snapshot.spec, context))
        if ended or not snapshot.run.is_active:
            self._ended = True
            await self.close(code=1000)

    async def _notice(self, text: str, *, error: bool = False) -> None:
        await self.send(text_data=fragments.render_notice(self.run, text, error=error, oob=True))


def _disconnected(exc: BaseException) -> bool:
    """Whether ``exc`` only says that the viewer went away (nothing to log)."""
    name = type(exc).__name__
    return name in {"Disconnected", "ConnectionClosed", "ConnectionClosedOK", "ClientDisconnected"}
