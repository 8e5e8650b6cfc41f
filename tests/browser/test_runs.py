"""Script runs in a real browser, started on the generator page: the text streams in over the
WebSocket, Cancel keeps what was written, a reload mid-run shows the text so far at once, and a
teammate watches the same run on the run page and on the script page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from generation.benchmarks.fake_openai import FakeOpenAIServer
from generation.scripts.offline import script_writer
from generation.scripts.prompt import brief_build, request_build
from tests.browser.conftest import BROWSER_PASSWORD, LOCAL_ZONE, create_project, local_clock

pytestmark = pytest.mark.browser

TOPIC = "How tides work"
PLATFORM = "youtube"
DURATION_SECONDS = 60
DELIVERY = "conversational"
# A script that passes validation for the brief typed below, so the run is one draft, no revision.
SCRIPT = script_writer(
    request_build(
        brief_build(
            topic=TOPIC,
            platform=PLATFORM,
            duration_seconds=DURATION_SECONDS,
            delivery=DELIVERY,
        )
    )
).strip()
TOKENS = len(re.findall(r"\s*\S+", SCRIPT))


@pytest.fixture
def slow_fake() -> Iterator[FakeOpenAIServer]:
    """The OpenAI fake at 30 tokens/s: a run lasts about five seconds."""
    with FakeOpenAIServer(text=SCRIPT, tokens_per_second=30.0) as fake:
        yield fake


@pytest.fixture
def studio(studio_server: Callable[..., str], slow_fake: FakeOpenAIServer) -> str:
    return studio_server(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": slow_fake.base_url,
            "OLLAMA_HOST": "http://127.0.0.1:9",
        }
    )


def start_run(page: Any, base: str, project_id: int) -> str:
    """Write a script on the generator page with OpenAI; returns the run's id, on the script
    page."""
    from playwright.sync_api import expect

    page.goto(f"{base}/projects/{project_id}/scripts/new/")
    page.fill("textarea[name=topic]", TOPIC)
    page.select_option("select[name=platform]", PLATFORM)
    page.fill("input[name=duration_seconds]", str(DURATION_SECONDS))
    page.select_option("select[name=delivery]", DELIVERY)
    page.locator("[data-testid=provider-openai] input").check()
    # Set up: the picker's line shows its health instead of "not set up".
    expect(
        page.locator("[data-testid=provider-openai] [data-testid=health-openai]")
    ).to_be_visible()
    expect(page.locator("[data-testid=provider-openai]")).not_to_contain_text("not set up")
    page.click("[data-testid=start]")
    expect(page.locator("[data-testid=script-title]")).to_contain_text(TOPIC)
    assert re.search(rf"/projects/{project_id}/scripts/\d+/$", page.url), page.url
    panel = page.locator("section.run-panel")
    expect(panel).to_have_count(1)
    run_id = panel.get_attribute("data-run-id")
    assert run_id
    return run_id


def text_of(page: Any) -> str:
    return str(page.locator("[data-testid=run-text]").text_content() or "")


def flat(text: str) -> str:
    """Text without its whitespace, heading marks and section start times: the raw Markdown
    and the text as the panel draws it (a heading per section, its start time beside it) read
    the same."""
    return re.sub(r"\s+|#+|\d+:\d\d", "", text)


def copied_text(page: Any) -> str:
    """What the ended panel's Copy puts on the clipboard: the run's text exactly."""
    return str(page.locator("section.run-panel pre[hidden]").text_content() or "")


def wait_for_text(page: Any, length: int) -> None:
    """Wait until the run's text is longer than ``length`` (polled: the CSP forbids eval)."""
    for _ in range(300):
        if len(text_of(page)) > length:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the text stayed at {len(text_of(page))} characters")


def status_of(page: Any) -> str:
    return str(page.locator("section.run-panel").get_attribute("data-status") or "")


def watch_until_ended(page: Any) -> list[int]:
    """The text lengths seen while the run was running, until it ended."""
    lengths: list[int] = []
    while status_of(page) in ("queued", "running"):
        length = len(text_of(page))
        if length and (not lengths or lengths[-1] != length):
            lengths.append(length)
        page.wait_for_timeout(100)
    return lengths


def last_words(text: str, count: int = 3) -> str:
    return " ".join([word for word in text.split() if word != "##"][-count:])


def expect_ready_script(page: Any, *, can_edit: bool) -> None:
    """The script view once the run has succeeded: the validated script, ready."""
    from playwright.sync_api import expect

    view = page.locator("#script-view")
    expect(view).to_have_attribute("data-status", "ready")
    expect(view.locator("[data-testid=script-status]")).to_have_text("Ready")
    expect(view.locator("[data-testid=validation]")).to_have_attribute("data-passed", "true")
    expect(view.locator("[data-testid=script-text]")).to_contain_text("how tides work")
    expect(view.locator("[data-testid=script-text]")).to_contain_text(last_words(SCRIPT))
    expect(view.locator("[data-testid=script-text] h3").first).to_contain_text("Hook")
    expect(view.locator("[data-testid=versions] tbody tr")).to_have_count(1)
    expect(view.locator("[data-testid=edit]")).to_have_count(1 if can_edit else 0)
    expect(view.locator("[data-testid=regenerate]")).to_have_count(1 if can_edit else 0)


def test_text_streams_in_and_a_teammate_watches_the_same_run(
    studio: str,
    two_people: Callable[..., Any],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada, ben, project_id = two_people(studio, "Tide film")

    run_id = start_run(ada, studio, project_id)
    script_url = ada.url
    expect(ada.locator("[data-testid=run-cancel]")).to_be_visible()
    ben.goto(f"{studio}/runs/{run_id}/")
    ben_script = ben.context.new_page()
    page_errors(ben_script)
    ben_script.goto(script_url)
    for page in (ben, ben_script):
        expect(page.locator("section.run-panel")).to_have_count(1)
        expect(page.locator("section.run-panel")).to_have_attribute("data-run-id", run_id)
        expect(page.locator("[data-testid=run-cancel]")).to_have_count(0)

    ada_lengths = watch_until_ended(ada)
    for page in (ben, ben_script):
        expect(page.locator("section.run-panel")).to_have_attribute("data-status", "succeeded")

    assert len(ada_lengths) >= 3, ada_lengths
    assert ada_lengths == sorted(ada_lengths)
    assert status_of(ada) == "succeeded"
    assert flat(text_of(ada)) == flat(text_of(ben)) == flat(text_of(ben_script)) == flat(SCRIPT)
    assert copied_text(ben) == SCRIPT
    for page in (ada, ben, ben_script):
        expect(page.locator("[data-testid=run-summary]")).to_contain_text(f"{TOKENS} tokens")
        metrics = page.locator(".run-metrics")
        expect(metrics.locator("[data-metric=tokens]")).to_have_text(str(TOKENS))
        expect(metrics.locator("[data-metric=model]")).to_have_text("gpt-4o-mini")
        expect(metrics.locator("[data-metric=duration]")).to_contain_text("ms")
        expect(metrics.locator("[data-metric=cost]")).to_contain_text("$0.0")
    expect_ready_script(ada, can_edit=True)
    expect_ready_script(ben_script, can_edit=False)
    # The run page keeps the text in the panel; the script page shows it once, in the version.
    expect(ben.locator("[data-testid=run-text]")).to_be_visible()
    for page in (ada, ben_script):
        expect(page.locator("[data-testid=run-text]")).to_be_hidden()
        expect(page.locator("[data-testid=run-summary]")).to_be_visible()
    for page in (ada, ben, ben_script):
        assert page_errors(page) == []


def test_reloading_mid_run_shows_the_text_so_far_then_keeps_streaming(
    studio: str,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    log_in: Callable[..., None],
    slow_fake: FakeOpenAIServer,
    page_errors: Callable[[Any], list[str]],
) -> None:
    # About 15 s a run: still streaming after two pages without script and a reload, even on a
    # loaded machine.
    slow_fake.configure(tokens_per_second=10.0)
    ada = new_page()
    sign_up(ada, studio, "ada")
    project_id = create_project(ada, "Reload film")
    run_id = start_run(ada, studio, project_id)
    script_url = ada.url
    wait_for_text(ada, 40)

    # The page itself carries the text so far (no script needed to show it).
    without_js = new_page(java_script_enabled=False)
    log_in(without_js, studio, "ada", BROWSER_PASSWORD)
    for url in (script_url, f"{studio}/runs/{run_id}/"):
        without_js.goto(url)
        assert len(text_of(without_js)) > 40 and status_of(without_js) == "running"
        assert flat(SCRIPT).startswith(flat(text_of(without_js)))

    ada.reload(wait_until="domcontentloaded")
    shown = text_of(ada)
    assert len(shown) > 40
    lengths = watch_until_ended(ada)
    assert len(lengths) >= 2, lengths
    assert status_of(ada) == "succeeded" and flat(text_of(ada)) == flat(SCRIPT)
    assert flat(text_of(ada)).startswith(flat(shown))
    expect_ready_script(ada, can_edit=True)
    assert page_errors(ada) == []


def test_cancel_mid_stream_keeps_the_partial_text(
    studio: str,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    slow_fake: FakeOpenAIServer,
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada = new_page(timezone_id=LOCAL_ZONE, locale="en-GB")
    sign_up(ada, studio, "ada")
    project_id = create_project(ada, "Cancel film")
    run_id = start_run(ada, studio, project_id)
    wait_for_text(ada, 20)

    ada.click("[data-testid=run-cancel]")

    expect(ada.locator("section.run-panel")).to_have_attribute("data-status", "cancelled")
    note = ada.locator("[data-testid=run-cancelled-note]")
    expect(note).to_be_visible()
    # The note arrived live; its time reads in the viewer's time zone, as on a reload.
    cancelled_at = note.locator("time[data-local=time]")
    expect(cancelled_at).to_have_text(local_clock(cancelled_at.get_attribute("datetime")))
    expect(note).to_contain_text("Cancelled by ada at ")
    shown = text_of(ada)
    assert slow_fake.wait_for_disconnects(1)
    state = ada.request.get(f"{studio}/api/v1/runs/{run_id}").json()
    kept = state["text"]
    assert 20 < len(kept) < len(SCRIPT) and SCRIPT.startswith(kept)
    assert state["status"] == "cancelled" and flat(shown) == flat(kept)

    # The script keeps the partial text as an unfinished version that can be continued.
    view = ada.locator("#script-view")
    expect(view).to_have_attribute("data-status", "cancelled")
    expect(view.locator("[data-testid=script-status]")).to_have_text("Cancelled")
    expect(view.locator("[data-testid=script-version]")).to_contain_text("unfinished")
    expect(view.locator("[data-testid=script-text]")).to_contain_text(last_words(kept))
    expect(view.locator("[data-testid=continue-form]")).to_have_count(1)
    expect(ada.locator("[data-testid=run-text]")).to_be_hidden()
    expect(ada.locator("[data-testid=run-cancelled-note]")).to_be_visible()
    ada.wait_for_timeout(500)
    assert flat(text_of(ada)) == flat(kept)
    assert page_errors(ada) == []
