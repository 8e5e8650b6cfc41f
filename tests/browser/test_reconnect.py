"""A lost live connection comes back, and with it the page's current state.

The project page's WebSocket goes through Playwright's WebSocket routing, so the test can drop
it (close code 1012, "service restart") and refuse the page's reconnects for a while. Meanwhile
the same person writes a script in another tab, which the held page cannot hear about. When
the page is let through again, the snapshot the server sends on connect shows the script. The
page's retries are counted, and its back-off is read from the page: soon at first, never more
than about five seconds apart."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.test_runs import create_project

pytestmark = pytest.mark.browser


@pytest.fixture
def studio(studio_server: Callable[..., str]) -> str:
    return studio_server({"OLLAMA_HOST": "http://127.0.0.1:9"})


class Gate:
    """Routes the page's project socket: through to the studio while open, else closed at once
    as a restarting server would close it."""

    def __init__(self) -> None:
        self.open = True
        self.connections = 0
        self.refused = 0
        self.current: Any = None
        self.lock = threading.Lock()

    def handle(self, ws: Any) -> None:
        with self.lock:
            self.connections += 1
            if not self.open:
                self.refused += 1
                ws.close(code=1012, reason="restarting")
                return
            self.current = ws
        ws.connect_to_server()

    def drop(self) -> None:
        with self.lock:
            self.open = False
            current, self.current = self.current, None
        assert current is not None, "the page never connected"
        current.close(code=1012, reason="restarting")


def test_a_dropped_socket_reconnects_and_the_page_catches_up(
    studio: str,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada = new_page()
    sign_up(ada, studio, "ada")
    project = create_project(ada, "Harbour film")

    delays = ada.evaluate("[...Array(40).keys()].map((n) => htmx.config.wsReconnectDelay(n))")
    assert delays[0] <= 250 and max(delays) <= 5000, delays
    assert min(delays[10:]) >= 3750, delays  # capped near five seconds, with a little jitter

    gate = Gate()
    ada.route_web_socket(re.compile(rf"/ws/projects/{project}/$"), gate.handle)
    ada.goto(f"{studio}/projects/{project}/")
    live = ada.locator("#project-live")
    expect(live).to_have_class(re.compile(r"\blive-on\b"))
    expect(ada.locator("[data-testid=project-script]")).to_have_count(0)

    gate.drop()
    expect(live).not_to_have_class(re.compile(r"\blive-on\b"))
    writer = ada.context.new_page()
    page_errors(writer)
    writer.goto(f"{studio}/projects/{project}/scripts/new/")
    writer.fill("textarea[name=topic]", "Tugboats of the harbour at night")
    writer.locator("[data-testid=provider-rulebased] input").check()
    writer.click("[data-testid=start]")
    writer.wait_for_url(re.compile(rf"/projects/{project}/scripts/\d+/$"))
    expect(writer.locator("#script-view")).to_have_attribute(
        "data-status", re.compile("^(ready|needs_review)$"), timeout=60_000
    )
    for _ in range(300):
        if gate.refused >= 3:
            break
        ada.wait_for_timeout(100)
    assert gate.refused >= 3, "the page stopped trying to reconnect"
    assert ada.locator("[data-testid=project-script]").count() == 0

    gate.open = True
    script = ada.locator("[data-testid=project-script]").first
    expect(script).to_contain_text("Tugboats of the harbour at night", timeout=20_000)
    expect(live).to_have_class(re.compile(r"\blive-on\b"))
    assert gate.connections == gate.refused + 2
    assert page_errors(ada) == []
