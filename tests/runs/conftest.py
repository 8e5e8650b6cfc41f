"""Fixtures of the runs tests.

The core is tested through a neutral kind of the tests' own (``tests.runs.kinds``: ``probe``
streams one prompt into its one part; others are declared per test). The studio streams from a
loopback fake of the OpenAI API (``generation.benchmarks.fake_openai``, the documented wire
format over real HTTP); runs execute on the test's own event loop (as they would on Daphne's),
through the real services, writer, channel layer and consumers.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from aura_site.projects.models import Role
from generation.benchmarks.fake_openai import FakeOpenAIServer
from generation.runs.kinds import registered
from generation.runs.models import Run, RunEvent
from generation.runs.services import run_wait_ended
from tests.runs.kinds import PROBE, probe_start

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI server set as the ``openai`` provider (30 tokens of "tok " at 200
    tokens/s unless reconfigured); Ollama points at a closed port."""
    from generation.providers import registry

    with FakeOpenAIServer(tokens=30, tokens_per_second=200.0, piece="tok ") as fake:
        providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
        providers["openai"] = {
            **providers["openai"],
            "OPTIONS": {"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        }
        providers["ollama"] = {
            **providers["ollama"],
            "OPTIONS": {"base_url": "http://127.0.0.1:9", "model": "llama3.2"},
        }
        settings.LLM_PROVIDERS = providers
        registry.reset()
        yield fake
        registry.reset()


@pytest.fixture(autouse=True)
def prices(transactional_db: None) -> None:
    """List prices of the fake's model (flushing transactional tests removes the seeded ones)."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from generation.costs.models import Price

    Price.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_1k=Decimal("0.00015"),
        output_per_1k=Decimal("0.0006"),
        effective_from=timezone.now() - timedelta(minutes=1),
    )


@pytest.fixture(autouse=True)
def quick_runs(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AURA_RUN_HEARTBEAT_SECONDS = 0.2
    settings.AURA_RUN_IDLE_POLL_SECONDS = 0.3
    settings.AURA_RUN_REAP_INTERVAL_SECONDS = 0.5


@pytest.fixture(autouse=True)
def probe_kind() -> Iterator[None]:
    """The tests' own run kind, declared for the test."""
    with registered(PROBE):
        yield


@dataclass
class Team:
    owner: Any
    editor: Any
    viewer: Any
    outsider: Any
    project: Any


@pytest.fixture
def team(make_user: Callable[..., Any], make_project: Callable[..., Any], add_member: Any) -> Team:
    owner = make_user("owner")
    project = make_project(owner=owner)
    editor = make_user("editor")
    viewer = make_user("viewer")
    add_member(project, editor, Role.EDITOR)
    add_member(project, viewer, Role.VIEWER)
    return Team(owner, editor, viewer, make_user("outsider"), project)


async def start_probe(user: Any, project: Any, **fields: Any) -> Run:
    """Start a run of the probe kind (``fields``: ``prompt``, ``provider``, ``model``,
    ``kind``)."""
    return await sync_to_async(probe_start)(user, project, **fields)


async def wait_ended(run: Run, seconds: float = 20) -> Run:
    ended = await run_wait_ended(run.pk, seconds)
    assert not ended.is_active, f"run still {ended.status} after {seconds} s"
    return ended


async def wait_for_chunks(run: Run, count: int = 1, seconds: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await RunEvent.objects.filter(run_id=run.pk, event="chunk").acount() >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} chunks after {seconds} s")


async def stored_events(run: Run) -> list[tuple[int, str, dict[str, Any]]]:
    return [
        (seq, event, data)
        async for seq, event, data in RunEvent.objects.filter(run_id=run.pk)
        .order_by("seq")
        .values_list("seq", "event", "data")
    ]


def chunk_text(events: list[tuple[int, str, dict[str, Any]]]) -> str:
    return "".join(data["content"] for _, event, data in events if event == "chunk")


@dataclass
class PanelView:
    """What htmx's ws extension would show, rebuilt from the fragments the consumer sent."""

    dom_id: str
    text: str = ""
    panels: int = 0
    appends: int = 0
    notices: list[str] = field(default_factory=list)
    status: str = ""
    sections: dict[str, str] = field(default_factory=dict)
    """A script's text drawn as sections (``<dom id>-s<n>``, swapped by id): each one's markup."""

    def apply(self, message: str) -> None:
        text_element = re.compile(
            r'<div id="' + re.escape(self.dom_id) + r'-text"([^>]*)>(.*?)</div>', re.S
        )
        section = re.compile(
            r'<section class="script-section" id="(' + re.escape(self.dom_id) + r'-s\d+)"'
            r"[^>]*>(.*?)</section>",
            re.S,
        )
        if f'<section id="{self.dom_id}"' in message:
            self.panels += 1
            status = re.search(r'data-status="([a-z]+)"', message)
            self.status = status.group(1) if status else ""
        for attributes, content in text_element.findall(message):
            value = html.unescape(content)
            if 'hx-swap-oob="beforeend"' in attributes:
                self.text += value
                self.appends += 1
            else:
                self.text = value
                self.sections = {}
        for section_id, content in section.findall(message):
            self.sections[section_id] = content
        grown = re.compile(
            r'<span id="(' + re.escape(self.dom_id) + r'-s\d+)-body" hx-swap-oob="beforeend">'
            r"(.*?)</span>",
            re.S,
        )
        for section_id, content in grown.findall(message):
            drawn = self.sections[section_id]
            end = drawn.rindex("</span></p>")
            self.sections[section_id] = drawn[:end] + content + drawn[end:]
            self.appends += 1

        notice = re.search(r'id="' + re.escape(self.dom_id) + r'-notice"[^>]*>(.*?)</p>', message)
        if notice and notice.group(1):
            self.notices.append(html.unescape(notice.group(1)))

    @property
    def sections_html(self) -> str:
        """The drawn sections in order, as the page's text element holds them."""
        return "".join(
            f"<section>{content}</section>"
            for _, content in sorted(
                self.sections.items(), key=lambda item: int(item[0].rsplit("-s", 1)[1])
            )
        )


async def session_cookie(user: Any) -> bytes:
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()
