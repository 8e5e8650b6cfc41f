"""The chair in a real browser: an agent asks a question and the session waits; the viewer sees
the question without answer buttons, the editor adds a note, pins a point and answers, and the
viewer's page sees the answer, the note and the session resume to its end, without a reload."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generation.benchmarks.fake_table import FakeTable

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ["AURA_SHOTS_DIR"]) if os.environ.get("AURA_SHOTS_DIR") else None
ASKING = (
    "Open on the yellow oilskin coat glowing under sodium lamps. "
    "Hold the wide shot of the pier while the ship turns.\n"
    "QUESTION: Should the ship arrive before or after the sun sets?\n"
    "OPTIONS: Before sunset | After sunset | Right at sunset\n"
    "DEFAULT: After sunset"
)


@pytest.fixture
def table() -> Iterator[FakeTable]:
    with FakeTable(tokens=30, tokens_per_second=40.0) as fake:
        fake.say("director", ASKING)
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
        page.screenshot(path=str(SHOTS / f"{name}-{width}-first-screen.png"))
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, (name, width, scroll)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_one_member_answers_the_agent_and_another_sees_the_session_resume(
    studio: str,
    table: FakeTable,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada, ben = new_page(), new_page()
    sign_up(ada, studio, "ada")
    sign_up(ben, studio, "ben")
    ada.fill("#dashboard-new-project input[name=name]", "Harbour film")
    ada.click("#dashboard-new-project button[type=submit]")
    match = re.search(r"/projects/(\d+)/", ada.url)
    assert match, ada.url
    project = match.group(1)
    ada.fill("#project-member-invite input[name=user]", "ben")
    ada.select_option("#project-member-invite select[name=role]", "viewer")
    ada.click("#project-member-invite button[type=submit]")
    expect(ada.locator("#project-members")).to_contain_text("ben")

    ada.goto(f"{studio}/projects/{project}/roundtables/new/")
    ada.fill("textarea[name=brief]", "A thirty second film about a harbour pilot at dusk.")
    ada.select_option("select[name=platform]", "tiktok")
    ada.fill("input[name=duration_seconds]", "30")
    ada.select_option("select[name=provider]", "openai")
    ada.check("input[name=debate][value=never]")
    ada.click("[data-testid=session-start]")
    ada.wait_for_url(re.compile(rf"/projects/{project}/roundtables/\d+/$"))
    ben.goto(ada.url)

    # The question reaches both pages live; only the editor gets the answer buttons.
    for page in (ada, ben):
        expect(page.locator("[data-testid=chair-question]")).to_contain_text(
            "Should the ship arrive before or after the sun sets?", timeout=60_000
        )
    expect(ada.locator("[data-testid=chair-option]")).to_have_count(3)
    expect(ben.locator("[data-testid=chair-log]")).to_contain_text("asks")
    assert ben.locator("[data-testid=chair-option]").count() == 0
    assert ben.locator("[data-testid=chair-note-form]").count() == 0
    assert ben.locator("[data-testid=pin]").count() == 0
    expect(ben.locator("[data-testid=synthesis-text]")).to_have_text("")
    shoot(ada, "chair-question-editor")
    shoot(ben, "chair-question-viewer")

    # The editor adds a note and pins a point while the session waits.
    ada.fill("[data-testid=chair-note-input]", "No drone shots at all")
    ada.click("[data-testid=chair-note-add]")
    expect(ben.locator("[data-testid=chair-log]")).to_contain_text("No drone shots at all")
    ada.locator("[data-testid=points-director] summary").click()
    ada.locator("[data-testid=points-director] li").first.locator("[data-testid=pin]").click()
    expect(ben.locator("[data-testid=chair-log]")).to_contain_text("pinned")
    expect(ben.locator("[data-testid=agent-director]")).to_contain_text("Pinned")

    # The editor answers; the viewer's page sees the answer and the session resume and end.
    ada.locator("[data-testid=chair-option]", has_text="Right at sunset").click()
    expect(ben.locator("[data-testid=chair-log]")).to_contain_text("answered the Director")
    expect(ben.locator("[data-testid=chair-log]")).to_contain_text("Right at sunset")
    expect(ben.locator("[data-testid=synthesis-text]")).to_contain_text("prompt-1", timeout=60_000)
    expect(ben.locator("section.roundtable-panel")).to_have_attribute(
        "data-status", "succeeded", timeout=60_000
    )
    synthesis = table.requests_for("synthesis")[0]
    prompt = "\n".join(str(m.get("content", "")) for m in synthesis["messages"])
    assert "Right at sunset" in prompt and "No drone shots at all" in prompt
    assert "yellow oilskin coat" in prompt
    expect(ben.locator("[data-testid=chair-log]")).to_contain_text("No drone shots at all")
    shoot(ben, "chair-done-viewer")
    assert page_errors(ada) == [] and page_errors(ben) == []
