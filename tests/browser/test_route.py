"""A chosen provider is respected, in a real browser: a provider that is not set up is greyed
and cannot be picked, and a run that lands elsewhere than chosen says so at the top of the run,
live and after a reload of the script page; at 1366x900 and 390x844."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.test_form_and_phone import (
    DESKTOP,
    badges_reach_aa,
    new_project,
    no_sideways_scroll,
)
from tests.fakes.providers import FakeProviderServer, openai_error

pytestmark = pytest.mark.browser

TOPIC = "How tides work"


@pytest.fixture
def refusing_openai() -> Iterator[FakeProviderServer]:
    """OpenAI is set up, but refuses its key on every call."""
    with FakeProviderServer() as fake:
        fake.push(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
        yield fake


def test_a_provider_not_set_up_is_greyed_and_a_changed_provider_is_said_at_the_top(
    studio_server: Callable[..., str],
    refusing_openai: FakeProviderServer,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    base = studio_server(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": refusing_openai.url("/v1"),
            "OLLAMA_HOST": "http://127.0.0.1:9",
            "AURA_PROVIDER_CHECKS": "false",
        }
    )
    page = new_page(viewport=DESKTOP)
    sign_up(page, base, "writer")
    project = new_project(page, "Tide channel")
    page.goto(f"{project}/scripts/new/")

    gemini = page.locator("[data-testid=provider-gemini]")
    expect(gemini.locator("input[type=radio]")).to_be_disabled()
    expect(gemini.locator("[data-testid=setup-gemini]")).to_have_text("Ask staff to add a key")
    expect(gemini.locator("a")).to_have_count(0)  # only staff get the admin link
    gemini.locator(".provider-name").click(force=True)
    expect(gemini.locator("input[type=radio]")).not_to_be_checked()
    assert (gemini.bounding_box() or {}).get("height", 99) < 48, "still one line per provider"
    badges_reach_aa(page, "the script form")
    no_sideways_scroll(page, "script form with providers not set up")
    page.set_viewport_size(DESKTOP)

    page.fill("textarea[name=topic]", TOPIC)
    page.fill("input[name=duration_seconds]", "60")
    page.locator("[data-testid=provider-openai] input").check()
    page.click("[data-testid=start]")
    expect(page.locator("[data-testid=script-title]")).to_contain_text(TOPIC)
    panel = page.locator("section.run-panel")
    expect(panel).to_have_attribute("data-status", "succeeded", timeout=30_000)

    notice = panel.locator("[data-testid=run-notice]")
    expect(notice).to_contain_text("You chose OpenAI, but OpenAI refused its key")
    expect(notice).to_contain_text("so this is template output from RuleBased (offline)")
    expect(page.locator("[data-testid=run-notice]")).to_have_count(1)
    notice_box = notice.bounding_box()
    metrics_box = panel.locator(".run-metrics").bounding_box()
    assert notice_box and metrics_box and notice_box["y"] < metrics_box["y"], "it is on top"
    expect(panel.locator("[data-testid=run-route]").first).to_contain_text("openai: key refused")
    no_sideways_scroll(page, "script run with a route notice")

    page.set_viewport_size(DESKTOP)
    page.reload()
    shown = page.locator("#script-route-notice")
    expect(shown).to_contain_text("You chose OpenAI")
    version = page.locator("[data-testid=script-version]").bounding_box()
    assert version and (shown.bounding_box() or {}).get("y", 1e9) < version["y"]
    no_sideways_scroll(page, "script page with a route notice")
    assert re.search(r"/scripts/\d+/$", page.url), page.url
    assert page_errors(page) == []
