"""Runs in a real browser: the text streams in over the WebSocket, Cancel keeps what was
written, a reload mid-run shows the text so far at once, and a teammate watches the same run."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from generation.benchmarks.fake_openai import FakeOpenAIServer
from tests.browser.conftest import BROWSER_PASSWORD

pytestmark = pytest.mark.browser

TOKENS = 150
PIECE = "tok "


@pytest.fixture
def slow_fake() -> Iterator[FakeOpenAIServer]:
    """The OpenAI fake at 30 tokens/s: a run lasts about five seconds."""
    with FakeOpenAIServer(tokens=TOKENS, tokens_per_second=30.0, piece=PIECE) as fake:
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


def create_project(page: Any, name: str) -> int:
    from playwright.sync_api import expect

    page.fill("#dashboard-new-project input[name=name]", name)
    page.click("#dashboard-new-project button[type=submit]")
    expect(page.locator("h1")).to_contain_text(name)
    match = re.search(r"/projects/(\d+)/", page.url)
    assert match, page.url
    return int(match.group(1))


def start_run(page: Any, base: str, project_id: int) -> str:
    """Start a script run from the minimal script page; returns the run's id."""
    from playwright.sync_api import expect

    page.goto(f"{base}/runs/projects/{project_id}/script/")
    page.fill("input[name=topic]", "How tides work")
    page.select_option("select[name=provider]", "openai")
    page.click("[data-testid=script-start]")
    panel = page.locator("section.run-panel")
    expect(panel).to_have_count(1)
    run_id = panel.get_attribute("data-run-id")
    assert run_id
    return run_id


def text_of(page: Any) -> str:
    return str(page.locator("[data-testid=run-text]").text_content() or "")


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


def test_text_streams_in_and_a_teammate_watches_the_same_run(
    studio: str,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada, ben = new_page(), new_page()
    page_errors(ada)
    page_errors(ben)
    sign_up(ada, studio, "ada")
    sign_up(ben, studio, "ben")
    project_id = create_project(ada, "Tide film")
    ada.fill("#project-member-invite input[name=user]", "ben")
    ada.select_option("#project-member-invite select[name=role]", "viewer")
    ada.click("#project-member-invite button[type=submit]")
    expect(ada.locator("#project-members")).to_contain_text("ben")

    run_id = start_run(ada, studio, project_id)
    expect(ada.locator("[data-testid=run-cancel]")).to_be_visible()
    ben.goto(f"{studio}/runs/{run_id}/")
    expect(ben.locator("section.run-panel")).to_have_count(1)
    expect(ben.locator("[data-testid=run-cancel]")).to_have_count(0)

    ada_lengths = watch_until_ended(ada)
    expect(ben.locator("section.run-panel")).to_have_attribute("data-status", "succeeded")

    assert len(ada_lengths) >= 3, ada_lengths
    assert ada_lengths == sorted(ada_lengths)
    assert status_of(ada) == "succeeded"
    assert text_of(ada) == text_of(ben) == PIECE * TOKENS
    metrics = ada.locator(".run-metrics")
    expect(metrics.locator("[data-metric=tokens]")).to_have_text(str(TOKENS))
    expect(metrics.locator("[data-metric=model]")).to_have_text("gpt-4o-mini")
    expect(metrics.locator("[data-metric=duration]")).to_contain_text("ms")
    expect(metrics.locator("[data-metric=cost]")).to_contain_text("$0.0")
    for page in (ada, ben):
        assert page_errors(page) == []


def test_reloading_mid_run_shows_the_text_so_far_then_keeps_streaming(
    studio: str,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    log_in: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    ada = new_page()
    page_errors(ada)
    sign_up(ada, studio, "ada")
    project_id = create_project(ada, "Reload film")
    run_id = start_run(ada, studio, project_id)
    wait_for_text(ada, 40)
    assert ada.url.endswith(f"/runs/{run_id}/")

    # The page itself carries the text so far (no script needed to show it).
    without_js = new_page(java_script_enabled=False)
    log_in(without_js, studio, "ada", BROWSER_PASSWORD)
    without_js.goto(f"{studio}/runs/{run_id}/")
    assert len(text_of(without_js)) > 40 and status_of(without_js) == "running"

    ada.reload(wait_until="domcontentloaded")
    shown = text_of(ada)
    assert len(shown) > 40
    lengths = watch_until_ended(ada)
    assert len(lengths) >= 2, lengths
    assert status_of(ada) == "succeeded" and text_of(ada) == PIECE * TOKENS
    assert text_of(ada).startswith(shown)
    assert page_errors(ada) == []


def test_cancel_mid_stream_keeps_the_partial_text(
    studio: str,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    slow_fake: FakeOpenAIServer,
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada = new_page()
    page_errors(ada)
    sign_up(ada, studio, "ada")
    project_id = create_project(ada, "Cancel film")
    run_id = start_run(ada, studio, project_id)
    wait_for_text(ada, 20)

    ada.click("[data-testid=run-cancel]")

    expect(ada.locator("section.run-panel")).to_have_attribute("data-status", "cancelled")
    expect(ada.locator("[data-testid=run-cancelled-note]")).to_be_visible()
    kept = text_of(ada)
    assert 20 < len(kept) < len(PIECE * TOKENS)
    assert slow_fake.wait_for_disconnects(1)
    state = ada.request.get(f"{studio}/api/v1/runs/{run_id}").json()
    assert state["status"] == "cancelled" and state["text"] == kept
    ada.wait_for_timeout(500)
    assert text_of(ada) == kept
    assert page_errors(ada) == []
