"""The script run panel as a live view, in a real browser: the text follows its tail unless the
reader scrolls up (then "Jump to latest"), Cancel stays in view and answers Esc (the provider's
connection closes), streaming off shows the time elapsed and an indeterminate progress bar, the
ended run folds into one line with its text shown once beside Copy, a provider failure reads as
one sentence with Continue and Try another provider, and the live region says how the run
ended."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generation.benchmarks.fake_openai import FakeOpenAIServer
from generation.scripts.offline import script_writer
from generation.scripts.prompt import brief_build, request_build
from tests.browser.test_form_and_phone import DESKTOP, PHONE, badges_reach_aa
from tests.browser.test_runs import create_project
from tests.fakes.providers import (
    ABORT,
    HANG,
    SSE_HEADERS,
    FakeProviderServer,
    Pause,
    Reply,
    openai_chunk,
    openai_events,
    sse,
)

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ["AURA_SHOTS_DIR"]) if os.environ.get("AURA_SHOTS_DIR") else None
TOPIC = "How tides work"
PLATFORM = "youtube"
DELIVERY = "conversational"
LONG_SECONDS = 150
# A script that passes validation for a 150 s brief: long enough to overflow the text box.
LONG_SCRIPT = script_writer(
    request_build(
        brief_build(
            topic=TOPIC, platform=PLATFORM, duration_seconds=LONG_SECONDS, delivery=DELIVERY
        )
    )
).strip()
BOX = "[data-testid=run-text]"


def shots(page: Any, name: str) -> None:
    """With AURA_SHOTS_DIR set, the page at 1366x900 and 390x844; the viewport is put back."""
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"{name}-{size['width']}.png"), caret="initial")
    page.set_viewport_size(before)


def start_script(
    page: Any, base: str, project_id: int, *, seconds: int, streaming: bool = True
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/projects/{project_id}/scripts/new/")
    page.fill("textarea[name=topic]", TOPIC)
    page.select_option("select[name=platform]", PLATFORM)
    page.fill("input[name=duration_seconds]", str(seconds))
    page.select_option("select[name=delivery]", DELIVERY)
    page.locator("[data-testid=provider-openai] input").check()
    if not streaming:
        page.locator("input[name=streaming]").uncheck()
    page.click("[data-testid=start]")
    expect(page.locator("[data-testid=script-title]")).to_contain_text(TOPIC)


def box_metrics(page: Any) -> tuple[int, int, int]:
    """The text box's scrollTop, scrollHeight and clientHeight."""
    top, height, client = page.locator(BOX).evaluate(
        "b => [Math.round(b.scrollTop), b.scrollHeight, b.clientHeight]"
    )
    return int(top), int(height), int(client)


def at_bottom(page: Any) -> bool:
    top, height, client = box_metrics(page)
    return height - top - client <= 24


def settle_scroll(page: Any) -> None:
    """Wait until a wheel's smooth scroll of the text box has come to rest (it animates, and
    slowly on a busy machine)."""
    last = box_metrics(page)[0]
    for _ in range(100):
        time.sleep(0.1)
        now = box_metrics(page)[0]
        if now == last:
            return
        last = now
    raise AssertionError("the text box never stopped scrolling")


def poll(check: Callable[[], bool], what: str, tries: int = 300) -> None:
    """Poll ``check`` every 50 ms (the CSP forbids the eval behind wait_for_function)."""
    for _ in range(tries):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(what)


@pytest.fixture
def long_fake() -> Iterator[FakeOpenAIServer]:
    """The OpenAI fake at 60 tokens/s with a script of about 150 s: a run of several seconds."""
    with FakeOpenAIServer(text=LONG_SCRIPT, tokens_per_second=60.0) as fake:
        yield fake


def test_the_text_follows_its_tail_and_the_ended_run_folds_into_one_line(
    studio_server: Callable[..., str],
    long_fake: FakeOpenAIServer,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    base = studio_server(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": long_fake.base_url,
            "OLLAMA_HOST": "http://127.0.0.1:9",
        }
    )
    page = new_page(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    sign_up(page, base, "ada")
    project_id = create_project(page, "Tide film")
    start_script(page, base, project_id, seconds=LONG_SECONDS)
    jump = page.locator("[data-testid=jump-latest]")
    cancel = page.locator("[data-testid=run-cancel]")

    # The text overflows its box and the box follows the tail; headings are headings already.
    poll(lambda: box_metrics(page)[1] > box_metrics(page)[2] + 150, "the text never overflowed")
    poll(lambda: at_bottom(page), "the box did not follow the tail")
    expect(page.locator(f"{BOX} .script-section h3").first).to_contain_text("Hook")
    assert "##" not in str(page.locator(BOX).text_content())
    expect(jump).to_be_hidden()
    expect(cancel).to_be_in_viewport()
    shots(page, "live-streaming")

    # Scrolled up, the box stays where the reader is and offers the way back.
    page.locator(BOX).hover()
    page.mouse.wheel(0, -600)
    expect(jump).to_be_visible()
    settle_scroll(page)
    top, height, _ = box_metrics(page)
    poll(lambda: box_metrics(page)[1] > height + 100, "no more text arrived")
    assert abs(box_metrics(page)[0] - top) <= 2 and not at_bottom(page)
    expect(cancel).to_be_in_viewport()
    shots(page, "live-scrolled-up")
    jump.click()
    poll(lambda: at_bottom(page), "Jump to latest did not reach the tail")
    expect(jump).to_be_hidden()
    _, height, _ = box_metrics(page)
    poll(lambda: box_metrics(page)[1] > height + 50 or page.locator(BOX).is_hidden(), "stalled")
    if page.locator(BOX).is_visible():
        poll(lambda: at_bottom(page) or page.locator(BOX).is_hidden(), "stopped following")

    # The end: one line (headline, tokens, tokens/s, first token, cost), the text once with
    # Copy beside it, and the live region says it once.
    panel = page.locator("section.run-panel")
    expect(panel).to_have_attribute("data-status", "succeeded", timeout=30_000)
    summary = page.locator("[data-testid=run-summary]")
    expect(summary).to_contain_text(
        re.compile(r"^Done.*\d+ tokens.*tokens/s.*first token \d+ ms.*\$")
    )
    box = summary.bounding_box()
    assert box and box["height"] < 40, box
    expect(page.locator("[data-testid=run-status]")).to_have_text("Done")
    expect(page.locator("#script-view [data-testid=script-status]")).to_have_text("Ready")
    expect(page.locator(BOX)).to_be_hidden()
    expect(page.locator(".run-metrics")).to_be_hidden()
    expect(page.locator("[data-testid=script-text]")).to_be_visible()
    expect(page.locator("[data-testid=script-text] h3").first).to_contain_text("Hook")
    expect(page.locator("[data-testid=run-announce]")).to_have_text(
        re.compile(r"^Done\. \d+ tokens, .*\$")
    )
    copy = page.locator("#script-view [data-testid=copy]")
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == LONG_SCRIPT
    badges_reach_aa(page, "ended run")
    shots(page, "live-ended")
    # On a phone it is still one line: the headline, the tokens and the cost.
    page.set_viewport_size(PHONE)
    expect(summary.locator(".run-summary-extra").first).to_be_hidden()
    expect(summary).to_contain_text(re.compile(r"^Done.*\d+ tokens.*\$"))
    box = summary.bounding_box()
    assert box and box["height"] < 40, box
    page.set_viewport_size(DESKTOP)
    assert page_errors(page) == []


@pytest.fixture
def held_openai() -> Iterator[FakeProviderServer]:
    """An OpenAI fake that sends a first stretch of script and then holds the line open (the
    first request), then one that holds a non-streaming request open (the second)."""
    with FakeProviderServer() as fake:
        pieces = ["## Hook\n\n", "The moon pulls ", "the sea. ", "Twice a day ", "it rises. "]
        events = openai_events(pieces, usage=None)
        fake.push(Reply(200, dict(SSE_HEADERS), [*events[:-2], HANG]))
        fake.push(Reply(200, {"content-type": "application/json"}, [HANG]))
        yield fake


def test_esc_stops_the_run_and_streaming_off_shows_elapsed_time(
    studio_server: Callable[..., str],
    held_openai: FakeProviderServer,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    base = studio_server(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": held_openai.url("/v1"),
            "OLLAMA_HOST": "http://127.0.0.1:9",
            "AURA_PROVIDER_CHECKS": "false",
        }
    )
    page = new_page(viewport=PHONE)
    sign_up(page, base, "ada")
    project_id = create_project(page, "Tide film")
    start_script(page, base, project_id, seconds=60)
    expect(page.locator(BOX)).to_contain_text("it rises.")
    expect(page.locator("[data-testid=run-cancel]")).to_be_in_viewport()
    shots(page, "live-held")
    # Stop stays on screen wherever the page is scrolled to.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(page.locator("[data-testid=run-cancel]")).to_be_in_viewport()
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator("[data-testid=run-cancel]")).to_be_in_viewport()
    # The end of the run is announced: a polite, atomic live region.
    announce = page.locator("[data-testid=run-announce]")
    expect(announce).to_have_attribute("role", "status")
    expect(announce).to_have_attribute("aria-live", "polite")
    expect(announce).to_have_attribute("aria-atomic", "true")

    page.locator("body").press("Escape")
    expect(page.locator("section.run-panel")).to_have_attribute("data-status", "cancelled")
    poll(lambda: held_openai.disconnects >= 1, "the provider's connection stayed open")
    expect(page.locator("[data-testid=run-status]")).to_have_text("Cancelled")
    expect(page.locator("[data-testid=run-announce]")).to_have_text(re.compile(r"^Cancelled\. "))
    expect(page.locator("#script-view [data-testid=script-text]")).to_contain_text("it rises.")
    expect(page.locator(BOX)).to_be_hidden()

    # Streaming off: the time elapsed, an indeterminate progress bar and Cancel (Esc too).
    start_script(page, base, project_id, seconds=60, streaming=False)
    waiting = page.locator("[data-testid=waiting]")
    expect(waiting).to_be_visible()
    progress = waiting.locator("progress")
    expect(progress).to_be_visible()
    assert progress.get_attribute("value") is None
    elapsed = waiting.locator("[data-testid=elapsed]")
    expect(elapsed).to_have_text(re.compile(r"^0:0\d$"))
    first = elapsed.text_content()
    expect(elapsed).not_to_have_text(str(first))
    expect(waiting.locator("[data-testid=run-cancel]")).to_be_in_viewport()
    shots(page, "live-streaming-off")
    page.locator("body").press("Escape")
    poll(lambda: held_openai.disconnects >= 2, "the non-streaming request stayed open")
    expect(page.locator("#script-view")).to_have_attribute("data-status", "cancelled")
    assert page_errors(page) == []


@pytest.fixture
def failing_openai() -> Iterator[FakeProviderServer]:
    """An OpenAI fake whose first stream breaks after five tokens; later requests finish."""
    with FakeProviderServer() as fake:
        head = [sse(openai_chunk("", role="assistant"))]
        head += [sse(openai_chunk(p)) for p in ["## Hook\n\n", "The ", "moon ", "pulls ", "the "]]
        fake.push(Reply(200, dict(SSE_HEADERS), [*head, Pause(0.2), ABORT]))
        fake.push(
            Reply(200, dict(SSE_HEADERS), openai_events(["sea, twice a day.\n"], usage=(40, 6)))
        )
        yield fake


def test_a_provider_failure_reads_as_one_sentence_with_continue_and_another_provider(
    studio_server: Callable[..., str],
    failing_openai: FakeProviderServer,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    base = studio_server(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": failing_openai.url("/v1"),
            "OLLAMA_HOST": "http://127.0.0.1:9",
            "AURA_PROVIDER_CHECKS": "false",
        }
    )
    page = new_page(viewport=DESKTOP)
    sign_up(page, base, "ada")
    project_id = create_project(page, "Tide film")
    start_script(page, base, project_id, seconds=60)

    failure = page.locator("[data-testid=run-failure]")
    expect(failure).to_be_visible()
    expect(page.locator("[data-testid=run-failure-sentence]")).to_have_text(
        re.compile(r"^OpenAI stopped after \d+ tokens? \([^)]+\)\. The partial text is kept\.$")
    )
    expect(page.locator("[data-testid=run-status]")).to_have_text("Failed")
    expect(page.locator("[data-testid=run-announce]")).to_have_text(
        re.compile(r"^Failed\. OpenAI stopped after")
    )
    # The technical detail is behind a disclosure; the actions are right there.
    expect(failure.locator("[data-testid=run-error]")).to_be_hidden()
    failure.locator("details summary").click()
    expect(failure.locator("[data-testid=run-error]")).to_be_visible()
    expect(failure.locator("[data-testid=run-correlation]")).to_be_visible()
    expect(failure.locator("[data-testid=run-continue]")).to_be_visible()
    another = failure.locator("[data-testid=run-try-another]")
    expect(another).to_be_visible()
    options = failure.locator("select[name=provider] option").all_text_contents()
    assert "OpenAI" not in options and any("RuleBased" in o for o in options), options
    expect(page.locator("#script-view [data-testid=script-text]")).to_contain_text("The moon pulls")
    badges_reach_aa(page, "failed run")
    shots(page, "live-failed")

    # Continue: a new run goes on from the kept text (on this page, or done before it loads);
    # a panel still shown gives one headline that agrees with the script's own status.
    failure.locator("[data-testid=run-continue]").click()
    view = page.locator("#script-view")
    expect(view).to_have_attribute("data-status", re.compile("^(ready|needs_review)$"))
    status = str(view.locator("[data-testid=script-status]").text_content())
    if page.locator("section.run-panel").count():
        headline = page.locator("[data-testid=run-status]")
        if status == "Needs review":
            expect(headline).to_have_text(re.compile(r"^Done, needs review: \d+ checks?$"))
        else:
            expect(headline).to_have_text("Done")
    expect(page.locator("#script-view [data-testid=script-text]")).to_contain_text("twice a day")
    shots(page, "live-continued")
    assert page_errors(page) == []
