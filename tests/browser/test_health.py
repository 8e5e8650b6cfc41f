"""The provider health page in a real browser, after real calls through the studio's API to
loopback fakes: a provider whose circuit opened, one that answers, one nobody can reach (its
free listing call fails), the ones not set up; at a desktop and a phone width, for staff and for
everyone else, and the same states in the script picker."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from generation.benchmarks.studio import manage
from tests.browser.conftest import BROWSER_PASSWORD
from tests.fakes.providers import (
    FakeProviderServer,
    anthropic_stream,
    openai_error,
    openai_stream,
)
from tests.health.conftest import closed_port_url

pytestmark = pytest.mark.browser

OPENAI_KEY = "sk-browser-health-0123456789"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeProviderServer, FakeProviderServer]]:
    with FakeProviderServer() as openai, FakeProviderServer() as anthropic:
        openai.push(
            openai_stream(["A hook about coffee."]),
            openai_error(503, "The engine is currently overloaded", type="server_error"),
        )
        anthropic.push(anthropic_stream(["Steam rises from the cup."]))
        yield openai, anthropic


def _traffic(base: str, token: str) -> int:
    """Three scripts on OpenAI (one answer, then failures that open its circuit, Ollama and
    RuleBased taking over) and one on Anthropic, through the API."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        project = client.post("/api/v1/projects", json={"name": "Health check"})
        assert project.status_code == 201, project.text
        project_id = int(project.json()["id"])
        for provider in ("openai", "openai", "openai", "anthropic"):
            response = client.post(
                "/api/v1/scripts",
                json={
                    "project": project_id,
                    "topic": "How to brew pour-over coffee at home",
                    "duration_seconds": 30,
                    "provider": provider,
                },
            )
            assert response.status_code == 200, response.text
    return project_id


def test_the_health_page_and_the_picker_after_real_traffic(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    log_in: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
    fakes: tuple[FakeProviderServer, FakeProviderServer],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    openai, anthropic = fakes
    data = Path(tempfile.mkdtemp(prefix="aura-health-", dir=tmp_path))
    env = {
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "AURA_DATA_DIR": str(data),
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai.url("/v1"),
        "ANTHROPIC_API_KEY": "sk-ant-browser-0123456789",
        "ANTHROPIC_BASE_URL": anthropic.base_url,
        "GEMINI_API_KEY": "AIza-browser-0123456789",
        "GEMINI_BASE_URL": closed_port_url(),
        "OLLAMA_HOST": closed_port_url(),
        "AURA_CIRCUIT_FAILURES": "2",
        "AURA_CIRCUIT_COOLDOWN_SECONDS": "600",
        "AURA_PROVIDER_CHECKS": "true",
    }
    base = studio_server(env)
    child = {**os.environ, **env}

    page = new_page(viewport={"width": 1366, "height": 900})
    sign_up(page, base, "boss")
    sign_up(new_page(), base, "writer")
    manage(
        child,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.filter(username='boss').update(is_staff=True)",
    )
    token = manage(child, "createapitoken", "writer").strip()
    project_id = _traffic(base, token)
    assert len(openai.requests) == 3

    page.goto(f"{base}/providers/health/")
    expect(page.locator("h1")).to_have_text("Provider health")
    cards = page.locator("[data-testid^=health-card-]")
    expect(page.locator("[data-testid=health-card-openai]")).to_have_attribute(
        "data-state", "circuit_open"
    )
    expect(page.locator("[data-testid=health-card-anthropic]")).to_have_attribute(
        "data-state", "healthy"
    )
    expect(page.locator("[data-testid=health-card-gemini]")).to_have_attribute(
        "data-state", "unreachable"
    )
    expect(page.locator("[data-testid=health-card-rulebased]")).to_have_attribute(
        "data-state", "healthy"
    )
    # Ollama took over from OpenAI and could not be reached either: its circuit opened too
    expect(page.locator("[data-testid=health-card-ollama]")).to_have_attribute(
        "data-state", "circuit_open"
    )
    expect(page.locator("[data-testid=health-card-azure]")).to_have_attribute(
        "data-state", "not_set_up"
    )
    assert cards.count() == 11
    openai_card = page.locator("[data-testid=health-card-openai]")
    expect(openai_card.locator("[data-testid=reopens-at]")).to_be_visible()
    expect(openai_card.locator("[data-testid=last-error-message]")).to_contain_text(
        "currently overloaded"
    )
    assert OPENAI_KEY not in page.content()
    page.screenshot(path=str(tmp_path / "health-staff-1366.png"), full_page=True)

    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    log_in(phone, base, "writer", BROWSER_PASSWORD)
    phone.goto(f"{base}/providers/health/")
    expect(phone.locator("[data-testid=health-card-openai]")).to_have_attribute(
        "data-state", "circuit_open"
    )
    expect(phone.locator("[data-testid=reopens-at]")).to_have_count(0)
    expect(phone.locator("[data-testid=last-error-message]")).to_have_count(0)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    phone.screenshot(path=str(tmp_path / "health-member-390.png"), full_page=True)

    # the script picker shows the same states (the writer owns the project)
    picker = new_page(viewport={"width": 1366, "height": 900})
    log_in(picker, base, "writer", BROWSER_PASSWORD)
    picker.goto(f"{base}/projects/{project_id}/scripts/new/")
    expect(picker.locator("[data-testid=health-openai]")).to_have_text("circuit open")
    expect(picker.locator("[data-testid=health-anthropic]")).to_have_text("healthy")
    picker.locator("[data-testid=provider-openai]").screenshot(
        path=str(tmp_path / "picker-openai.png")
    )

    picker.goto(f"{base}/projects/{project_id}/roundtables/new/")
    strip = picker.locator("[data-testid=health-strip]")
    expect(strip.locator("[data-testid=health-openai]")).to_have_text("circuit open")
    picker.locator("section[aria-labelledby=rt-providers-title]").screenshot(
        path=str(tmp_path / "picker-roundtable.png")
    )

    for each in (page, phone, picker):
        assert page_errors(each) == []
