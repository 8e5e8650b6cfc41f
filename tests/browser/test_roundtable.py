"""The roundtable in a real browser: a teammate's project page shows the session appear; the five
cards fill at the same time, each in many steps; then the debate, the final prompt and the shot
table; the replay fills the cards again without calling any provider."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generation.benchmarks.fake_table import FakeTable

pytestmark = pytest.mark.browser

AGENTS = ("director", "cinematographer", "editor", "colorist", "platform_expert")
TOKENS = 60
SHOTS = Path(os.environ.get("AURA_SHOTS_DIR", "")) if os.environ.get("AURA_SHOTS_DIR") else None
"""Where to save screenshots of the pages (set AURA_SHOTS_DIR to look at them)."""


@pytest.fixture
def table() -> Iterator[FakeTable]:
    """The OpenAI fake answering each step of a session at 20 words a second."""
    with FakeTable(tokens=TOKENS, tokens_per_second=20.0) as fake:
        yield fake


@pytest.fixture
def studio(studio_server: Callable[..., str], table: FakeTable) -> str:
    return studio_server(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": table.base_url,
            "OLLAMA_HOST": "http://127.0.0.1:9",
        }
    )


def shoot(page: Any, name: str) -> None:
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def lengths(page: Any) -> dict[str, int]:
    return {
        key: len(page.locator(f"[data-testid=agent-text-{key}]").text_content() or "")
        for key in AGENTS
    }


def test_five_cards_fill_at_once_then_the_synthesis_and_the_shot_table(
    studio: str,
    two_people: Callable[..., Any],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada, ben, project = two_people(studio)
    ben.goto(f"{studio}/projects/{project}/")
    expect(ben.locator("#project-roundtables")).to_contain_text("No roundtables yet")

    ada.goto(f"{studio}/projects/{project}/roundtables/new/")
    ada.fill("textarea[name=brief]", "A thirty second film about a harbour pilot at dusk.")
    ada.select_option("select[name=platform]", "tiktok")
    ada.fill("input[name=duration_seconds]", "30")
    ada.select_option("select[name=provider]", "openai")
    expect(ada.locator("[data-testid=quote-expected]")).to_contain_text("$")
    shoot(ada, "roundtable-new")
    ada.click("[data-testid=session-start]")
    ada.wait_for_url(re.compile(rf"/projects/{project}/roundtables/\d+/$"))

    # The teammate's project page shows the session at once, without a reload.
    expect(ben.locator("[data-testid=project-roundtables]")).to_contain_text("harbour pilot")

    seen: list[dict[str, int]] = []
    shot_taken = False
    for _ in range(400):
        now = lengths(ada)
        if not seen or now != seen[-1]:
            seen.append(now)
        if not shot_taken and all(now.values()) and min(now.values()) < TOKENS * 5:
            shoot(ada, "roundtable-live")
            shot_taken = True
        done = [
            ada.locator(f"[data-testid=agent-status-{key}]").text_content() == "Done"
            for key in AGENTS
        ]
        if all(done):
            break
        ada.wait_for_timeout(50)
    for key in AGENTS:
        steps = {state[key] for state in seen}
        assert len(steps) >= 4, (key, sorted(steps))
    # While one card grew, the others grew too: some moment saw every card part-written.
    assert any(
        all(0 < state[key] < max(s[key] for s in seen) for key in AGENTS) for state in seen
    ), seen

    panel = ada.locator("section.roundtable-panel")
    expect(panel).to_have_attribute("data-status", "succeeded", timeout=60_000)
    for key in AGENTS:
        text = ada.locator(f"[data-testid=agent-text-{key}]").text_content() or ""
        assert text.startswith(f"{key}-1 ") and f"{key}-{TOKENS}" in text
        assert "-" in text and all(other not in text for other in AGENTS if other != key)
    expect(ada.locator("[data-testid=debate-asks]")).to_contain_text("question-1")
    expect(ada.locator("[data-testid=synthesis-text]")).to_contain_text("prompt-1")
    table = ada.locator("[data-testid=shot-table]")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(ada.locator("[data-testid=shot-to-script]").first).to_have_attribute(
        "href", re.compile(r"/scripts/new/\?topic=")
    )
    expect(ada.locator("[data-testid=shot-to-clip]").first).to_have_attribute(
        "href", re.compile(r"/videos/\?prompt=.+&duration_seconds=[0-9.]+&shot_roundtable=")
    )
    shoot(ada, "roundtable-done")
    expect(ben.locator("[data-testid=project-roundtables]")).to_contain_text("Done")

    # The replay fills the cards again from the stored events.
    finals = {key: ada.locator(f"[data-testid=agent-text-{key}]").text_content() for key in AGENTS}
    ada.click("[data-testid=replay-instant]")
    for key in AGENTS:
        expect(ada.locator(f"[data-testid=agent-text-{key}]")).to_have_text(finals[key] or "")

    # At 390 px the page does not scroll sideways.
    ada.set_viewport_size({"width": 390, "height": 844})
    width = ada.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    assert page_errors(ada) == [] and page_errors(ben) == []
