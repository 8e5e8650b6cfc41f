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
    two_people: Callable[..., Any],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada, ben, project = two_people(studio)

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

    # After a reload, and in the replay, the chair's lines come back in their order.
    ben.reload()
    order = ["user_input_request", "chair_note", "chair_pin", "user_input_response"]
    assert chair_events(ben)[:4] == order
    replayed = replay_instantly(ben)
    assert replayed == chair_events(ben) and replayed[:4] == order
    expect(ben.locator("[data-testid=agent-text-director]")).to_contain_text("yellow oilskin")
    assert page_errors(ada) == [] and page_errors(ben) == []


def chair_events(page: Any) -> list[str]:
    items = page.locator("[data-testid=chair-log] [data-testid=chair-item]")
    return [str(items.nth(i).get_attribute("data-event")) for i in range(items.count())]


def replay_instantly(page: Any) -> list[str]:
    """Replay the session at once; the events of the chair's log lines the replay drew."""
    from playwright.sync_api import expect

    page.evaluate(
        "document.querySelectorAll('[data-testid=chair-item]')"
        ".forEach((item) => { item.dataset.before = 'yes'; })"
    )
    page.click("[data-testid=replay-instant]")
    panel = page.locator("section.roundtable-panel:not(.rerun-panel)")
    expect(panel.locator("[data-testid=chair-item]:not([data-before])").first).to_be_attached()
    expect(panel).not_to_have_class(re.compile("replaying"))
    assert panel.locator("[data-testid=chair-item][data-before]").count() == 0
    return chair_events(page)


FIRST = "Open on the pilot's lamp swinging over the dark water while the ship waits offshore."
SECOND = (
    "Start on the pilot's hands on the wheel, cut to the bow cutting the dusk, "
    "then hold the lighthouse as the hull slides past."
)


def test_an_editor_reruns_one_agent_and_sees_it_stream_then_both_versions(
    studio: str,
    table: FakeTable,
    two_people: Callable[..., Any],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    table.say("director", FIRST, SECOND)
    ada, ben, project = two_people(studio)

    ada.goto(f"{studio}/projects/{project}/roundtables/new/")
    ada.fill("textarea[name=brief]", "A thirty second film about a harbour pilot at dusk.")
    ada.select_option("select[name=platform]", "tiktok")
    ada.fill("input[name=duration_seconds]", "30")
    ada.select_option("select[name=provider]", "openai")
    ada.check("input[name=debate][value=never]")
    ada.click("[data-testid=session-start]")
    ada.wait_for_url(re.compile(rf"/projects/{project}/roundtables/\d+/$"))
    main = ada.locator("section.roundtable-panel:not(.rerun-panel)")
    expect(main).to_have_attribute("data-status", "succeeded", timeout=60_000)
    grid = ada.locator("[data-testid=agent-grid]")
    expect(grid.locator("[data-testid=agent-text-director]")).to_have_text(FIRST)
    ben.goto(ada.url)

    # The editor re-runs the Director alone, with a note; it streams word by word in its own
    # panel above the cards.
    table.behave("director", tokens_per_second=6.0)
    control = ada.locator("[data-testid=rerun-director]")
    control.locator("summary").click()
    ada.select_option("[data-testid=rerun-provider-director]", "openai")
    ada.fill("[data-testid=rerun-note-director]", "Start on the pilot's hands")
    ada.click("[data-testid=rerun-start-director]")
    live = ada.locator("[data-testid=rerun-panel]")
    expect(live).to_have_attribute("data-status", "running", timeout=30_000)
    expect(live.locator("[data-testid=agent-text-director]")).to_contain_text("Start on the")
    streamed = live.locator("[data-testid=agent-text-director]").text_content() or ""
    assert live.get_attribute("data-status") == "running" and streamed != SECOND, streamed
    assert SECOND.startswith(streamed), streamed
    shoot(ada, "chair-rerun-streaming")

    # Once it ends the Director's card holds the new version, says so, and keeps the first
    # under its disclosure; the viewer's page shows the same, with no control.
    line = ada.locator("[data-testid=version-line-director]")
    expect(line).to_contain_text("Version 2 of 2", timeout=30_000)
    expect(line).to_contain_text("re-run by ada")
    expect(line).to_contain_text("openai")
    expect(line).to_contain_text("$")
    expect(live).to_have_count(0)
    expect(grid.locator("[data-testid=agent-text-director]")).to_have_text(SECOND)
    others = ada.locator("[data-testid=versions-others-director]")
    others.locator("summary").click()
    expect(others.locator("[data-testid=version-director-1]")).to_contain_text(FIRST)
    expect(others.locator("[data-testid=version-director-1]")).to_contain_text("asked by ada")
    expect(ada.locator("[data-testid=synthesis-stale]")).to_contain_text("Director")
    assert (
        table.requests_for("analysis:director")[1:]
        and len(table.requests_for("analysis:cinematographer")) == 1
    )
    shoot(ada, "chair-rerun-done-editor")

    ben.reload()
    expect(ben.locator("[data-testid=version-line-director]")).to_contain_text("Version 2 of 2")
    expect(ben.locator("[data-testid=agent-grid] [data-testid=agent-text-director]")).to_have_text(
        SECOND
    )
    assert ben.locator("details.rerun-control").count() == 0
    assert ben.locator("[data-testid=rerun-synthesis]").count() == 0
    shoot(ben, "chair-rerun-done-viewer")

    # The replay ends on the re-run: the chair's log says who re-ran what, and the Director's
    # card is written again with the new version.
    expect(ben.locator("[data-testid=chair-item]").last).to_contain_text("re-ran the Director")
    replay_instantly(ben)
    expect(ben.locator("[data-testid=chair-log] [data-testid=chair-item]").last).to_have_attribute(
        "data-event", "rerun"
    )
    expect(ben.locator("[data-testid=chair-item]").last).to_contain_text(
        "Start on the pilot's hands"
    )
    expect(ben.locator("[data-testid=agent-grid] [data-testid=agent-text-director]")).to_have_text(
        SECOND
    )
    assert page_errors(ada) == [] and page_errors(ben) == []
