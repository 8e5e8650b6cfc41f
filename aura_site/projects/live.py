"""Live updates of project pages and dashboards over the channel layer.

Services call ``project_changed`` / ``project_deleted`` / ``dashboards_changed`` inside their
transaction; the messages go out only after it commits. A message names what changed, and each
connected consumer renders the fragments for its own viewer (role-dependent controls differ), as
the same partials the pages use, marked ``hx-swap-oob``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string

from aura_site.projects import selectors
from aura_site.projects.forms import WORLD_KINDS, MemberAddForm, ProjectForm
from aura_site.projects.models import Membership, Project, Role
from generation.costs.notices import notices_for

logger = logging.getLogger(__name__)

PROJECT_TEMPLATE = "projects/project_detail.html"
PROJECT_PARTS = (
    "header",
    "alerts",
    "members",
    "invite",
    "scripts",
    "roundtables",
    "videos",
    "series",
    "characters",
    "locations",
    "activity",
)
PRODUCT_SECTIONS = (("scripts", "scripts"), ("roundtables", "roundtable"), ("videos", "videos"))
"""Each product's section of the project page: its app's ``project_section.html``, with
``projects/sections/<product>_empty.html`` standing in until the app has one."""
# What a (re)connecting page receives: everything but the invitation form, so that a form the
# page shows with errors is not replaced by an empty one.
PROJECT_SNAPSHOT_PARTS = tuple(part for part in PROJECT_PARTS if part != "invite")
DASHBOARD_TEMPLATE = "projects/dashboard.html"
DASHBOARD_PARTS = ("notices", "projects", "activity")


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _send(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to ``group``. From a thread working for a running event loop (a run's
    writer, a request's thread) it is handed to that loop without waiting, so a busy loop never
    holds up the thread; elsewhere (a Celery worker) it is sent before returning."""
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _serving_loop()
    if loop is not None:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        future.add_done_callback(lambda done: _sent(done, group, message))
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("Could not publish %s to %s", message.get("type"), group)


def _serving_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop this thread works for, when it is not running on it."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or not loop.is_running() or loop.is_closed():
        return None
    try:
        if asyncio.get_running_loop() is loop:
            return None
    except RuntimeError:
        pass
    return loop


def _sent(done: concurrent.futures.Future[None], group: str, message: dict[str, Any]) -> None:
    if done.cancelled():
        return
    error = done.exception()
    if error is not None:
        logger.error("Could not publish %s to %s", message.get("type"), group, exc_info=error)


def _publish(group: str, message: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(group, message))


def project_changed(project_id: int, parts: Iterable[str]) -> None:
    names = sorted({*parts, "activity"})
    _publish(project_group(project_id), {"type": "project.changed", "parts": names})


ProgressRenderer = Callable[[int, dict[str, Any]], str]
_progress_renderers: dict[str, ProgressRenderer] = {}


def register_progress_renderer(product: str, render: ProgressRenderer) -> None:
    """How a product's ``project.progress`` messages are drawn: ``render(project_id, data)``
    returns out-of-band fragments built from the message's data alone (from the product's
    ``AppConfig.ready``)."""
    _progress_renderers[product] = render


async def project_progress(project_id: int, product: str, data: dict[str, Any]) -> None:
    """Tell the project's pages how far a piece of work has come (no transaction: it is sent
    at once; the product throttles it)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "project.progress", "product": product, "data": data}
    try:
        await layer.group_send(project_group(project_id), message)
    except Exception:
        logger.exception("Could not publish progress to %s", project_group(project_id))


def render_progress(project_id: int, message: dict[str, Any]) -> str:
    render = _progress_renderers.get(str(message.get("product") or ""))
    data = message.get("data")
    if render is None or not isinstance(data, dict):
        return ""
    return render(project_id, data)


def project_deleted(project_id: int) -> None:
    _publish(project_group(project_id), {"type": "project.deleted"})


def dashboards_changed(user_ids: Iterable[int]) -> None:
    for user_id in sorted(set(user_ids)):
        _publish(user_group(user_id), {"type": "dashboard.changed"})


def csrf_token_for(secret: str | None) -> str:
    """A masked CSRF token for the browser that holds ``secret`` in its CSRF cookie."""
    if not secret:
        return ""
    request = HttpRequest()
    request.META["CSRF_COOKIE"] = secret
    return get_token(request)


def project_context(project: Project, membership: Membership) -> dict[str, Any]:
    return {
        "project": project,
        "membership": membership,
        "can_edit": membership.can(Role.EDITOR),
        "is_owner": membership.can(Role.OWNER),
        "members": selectors.project_members(project),
        "owner_count": selectors.owner_count(project),
        "world": {
            slug: {"kind": kind, "items": selectors.world_items(project, slug)}
            for slug, kind in WORLD_KINDS.items()
        },
        "activity": selectors.project_activity(project),
        "notices": notices_for(membership.user, project_id=project.pk),
        "invite_form": MemberAddForm(),
        "role_choices": Role.choices,
        "section_templates": {
            name: [f"{app}/project_section.html", f"projects/sections/{name}_empty.html"]
            for name, app in PRODUCT_SECTIONS
        },
    }


def render_project_parts(
    project: Project, membership: Membership, parts: Iterable[str], *, csrf_token: str
) -> str:
    context = project_context(project, membership)
    context.update({"oob": True, "csrf_token": csrf_token, "user": membership.user})
    return "".join(
        render_to_string(f"{PROJECT_TEMPLATE}#{part}", context)
        for part in PROJECT_PARTS
        if part in set(parts)
    )


def dashboard_context(user: Any) -> dict[str, Any]:
    return {
        "memberships": selectors.memberships_for_user(user),
        "notices": notices_for(user),
        "activity": selectors.activity_for_user(user),
        "project_form": ProjectForm(),
    }


def render_dashboard_parts(user: Any, *, csrf_token: str) -> str:
    context = dashboard_context(user)
    context.update({"oob": True, "csrf_token": csrf_token, "user": user})
    return "".join(
        render_to_string(f"{DASHBOARD_TEMPLATE}#{part}", context) for part in DASHBOARD_PARTS
    )


def render_project_gone(message: str) -> str:
    return render_to_string(f"{PROJECT_TEMPLATE}#gone", {"oob": True, "gone_message": message})
