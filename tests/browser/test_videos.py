"""Videos in a real browser: a clip made by the custom video server (a loopback fake serving a
real moving MP4 made with PyAV) through the studio's coordinator plays and seeks in the job
page's player, served with range requests; a teammate's open list follows the job from its
start to its end without a reload; the pages never scroll sideways; and with no provider set up,
every model in the picker is greyed out and says what to ask staff for."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import create_project, invite
from tests.fakes.videos import FakeNeura

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ["AURA_SHOTS_DIR"]) if os.environ.get("AURA_SHOTS_DIR") else None
"""Where to save screenshots of the pages (set AURA_SHOTS_DIR to look at them)."""
SIZES = ((1366, 900), (390, 844))
WAIT = 60_000
"""Playwright's wait for a job to move on (generous: the machine may be busy)."""
PROMPT = "A slow dolly shot along a rain-soaked harbour at dusk, lamps reflected in the water"
NO_VIDEO_PROVIDERS = {
    "NEURA_AI_SERVER": "",
    "NEURA_API_KEY": "",
    "RUNWAY_API_KEY": "",
    "LUMA_API_KEY": "",
    "HF_TOKEN": "",
    "SELF_HOSTED_SERVER": "",
}
CLIP_SIZE = (320, 180)
CLIP_SECONDS = 4.0
CLIP_FPS = 24


@pytest.fixture(scope="module")
def clip() -> bytes:
    """Four seconds of a real moving picture, H.264 in MP4 (PyAV)."""
    from tests.videos_media.make import moving_pattern_mp4

    return moving_pattern_mp4(seconds=CLIP_SECONDS, fps=CLIP_FPS, size=CLIP_SIZE)


@pytest.fixture
def neura(clip: bytes) -> Iterator[FakeNeura]:
    """The custom server: the job renders (40 %) until the test lets it complete."""
    with FakeNeura(video=clip, cost_usd="0.25") as fake:
        fake.next_job(["queued", {"status": "processing", "progress": 0.4}])
        yield fake


def shoot(page: Any, name: str) -> None:
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        # caret="initial": hiding the caret injects a style, which the studio's CSP refuses.
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), caret="initial")
        page.screenshot(
            path=str(SHOTS / f"{name}-{width}-full.png"), full_page=True, caret="initial"
        )
    page.set_viewport_size({"width": 1366, "height": 900})


def assert_no_sideways_scroll(page: Any, where: str) -> None:
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_function("w => window.innerWidth === w", arg=width)
        sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert sizes[0] <= sizes[1], (where, width, sizes)
    page.set_viewport_size({"width": 1366, "height": 900})


def open_live_list(page: Any, url: str) -> None:
    """Open a videos list and wait until it follows the project live."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("#video-jobs-live.live-on")).to_have_count(1)


def test_a_clip_from_the_custom_server_plays_and_seeks_while_a_teammate_watches_it_arrive(
    studio_server: Callable[..., str],
    neura: FakeNeura,
    clip: bytes,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    studio = studio_server(
        {
            **NO_VIDEO_PROVIDERS,
            "NEURA_AI_SERVER": neura.base_url,
            "NEURA_API_KEY": neura.api_key,
            "AURA_VIDEO_POLL_SECONDS": "0.2",
            "AURA_VIDEO_POLL_MAX_SECONDS": "0.5",
        }
    )
    ada, ben = new_page(), new_page()
    sign_up(ada, studio, "ada")
    sign_up(ben, studio, "ben")
    project = create_project(ada, "Harbour film")
    invite(ada, "ben", "viewer")
    videos = f"{studio}/projects/{project}/videos/"

    # Ben, a viewer, watches the project's clips: none yet, and no form for him.
    open_live_list(ben, videos)
    expect(ben.locator("[data-testid=video-jobs]")).to_contain_text("No clips yet")
    expect(ben.locator("#video-form")).to_have_count(0)
    ben.evaluate("window.__sameDocument = true")

    # Ada's picker: the custom server is ready and chosen, the others say what they need.
    ada.goto(videos)
    picker = ada.locator("[data-testid=model-picker]")
    neura_option = picker.locator("[data-model=neura]")
    expect(neura_option).to_have_attribute("data-configured", "true")
    expect(neura_option.locator("input")).to_be_checked()
    expect(picker.locator("[data-model=runway] input")).to_be_disabled()
    expect(picker.locator("[data-model=runway]")).to_contain_text("Not set up")
    expect(picker.locator("#how-runway")).to_contain_text("RUNWAY_API_KEY")
    # The custom server is priced at nothing.
    expect(ada.locator("[data-testid=quote-expected]")).to_contain_text(
        "Free"
    )  # the custom server is priced at nothing
    start = ada.locator("[data-testid=video-start]")
    expect(start).to_be_in_viewport()
    assert_no_sideways_scroll(ada, "videos list, empty")
    shoot(ada, "videos-list-empty")

    # Start without a prompt: what is wrong shows next to Start, and nothing starts.
    start.click()
    problems = ada.locator("[data-testid=form-errors]")
    expect(problems).to_be_visible()
    expect(problems).to_be_in_viewport()
    expect(problems).to_contain_text("Prompt")
    expect(ada.locator("[data-testid=error-prompt]")).to_be_visible()
    # Nothing was submitted: at most the free health call provider health makes once a minute.
    assert [r.path for r in neura.api_requests if r.path != "/api/v1/health"] == []
    shoot(ada, "videos-form-error")

    # Start through the form: the studio submits to the custom server once.
    ada.fill("textarea[name=prompt]", PROMPT)
    ada.fill("input[name=duration_seconds]", "4")
    start.click()
    ada.wait_for_url(re.compile(rf"/projects/{project}/videos/\d+/$"))
    job_url = ada.url
    player_loads: list[tuple[str | None, int]] = []
    ada.on(
        "response",
        lambda r: (
            player_loads.append((r.request.headers.get("range"), r.status))
            if r.url.endswith("/clip") and r.request.resource_type == "media"
            else None
        ),
    )
    panel = ada.locator("[data-testid=video-panel]")
    expect(ada.locator("[data-testid=video-job-status]")).to_contain_text("40%", timeout=WAIT)
    expect(ada.locator("[data-testid=video-progress]")).to_have_attribute(
        "data-job-status", "running"
    )
    expect(ada.locator("[data-testid=video-attempt]")).to_have_count(1)
    # The panel's status, its attempt and the project's list say the same thing.
    expect(panel.locator("[data-testid=video-status]")).to_have_text("Rendering 40%")
    expect(ada.locator("[data-testid=video-attempt-status]")).to_have_text("Rendering")
    assert_no_sideways_scroll(ada, "job page, rendering")
    shoot(ada, "video-job-running")

    # Ben's open list shows the job appear and render, without a reload.
    row = ben.locator("[data-testid=video-job]")
    expect(row).to_have_count(1, timeout=WAIT)
    expect(row).to_contain_text("rain-soaked harbour")
    expect(row).to_have_attribute("data-status", "running", timeout=WAIT)
    expect(row.locator("[data-testid=video-status]")).to_contain_text("40%")
    expect(row.locator("progress")).to_have_attribute("value", "40")
    assert_no_sideways_scroll(ben, "videos list, rendering")
    shoot(ben, "videos-list-running")

    # The server finishes; the clip is fetched, checked and stored by the studio.
    submits = [r for r in neura.api_requests if r.method == "POST"]
    assert len(submits) == 1, submits
    assert submits[0].json()["prompt"] == PROMPT
    (task,) = neura.jobs.values()
    task.override = {"status": "completed"}

    expect(row).to_have_attribute("data-status", "succeeded", timeout=WAIT)
    expect(row.locator("[data-testid=video-status]")).to_have_text("Done")
    expect(row.locator("progress")).to_have_count(0)
    expect(row.locator("img")).to_have_count(1)
    assert ben.evaluate("window.__sameDocument") is True
    assert neura.media_requests, "the studio never downloaded the clip"

    expect(panel).to_have_attribute("data-status", "succeeded", timeout=WAIT)
    metadata = ada.locator("[data-testid=video-metadata]")
    expect(metadata).to_contain_text(f"{CLIP_SIZE[0]} \N{MULTIPLICATION SIGN} {CLIP_SIZE[1]}")
    expect(metadata).to_contain_text(f"{round(CLIP_SECONDS * CLIP_FPS)} at {CLIP_FPS} fps")
    expect(ada.locator("[data-testid=video-cost]")).to_have_text("$0.25")
    expect(ada.locator("[data-testid=video-attempt]")).to_have_count(1)
    expect(ada.locator("[data-testid=video-attempt]")).to_contain_text("Made the clip")

    # The player plays the clip: its time moves on.
    player = ada.locator("[data-testid=video-player]")
    expect(player).to_be_visible()
    clip_url = player.evaluate("v => v.currentSrc")
    assert re.search(rf"/projects/{project}/videos/\d+/clip$", clip_url), clip_url
    player.evaluate("v => { v.muted = true; return v.play(); }")
    ada.wait_for_function(
        "v => v.currentTime > 0.5 && !v.paused && !v.error",
        arg=player.element_handle(),
        timeout=WAIT,
    )
    player.evaluate("v => v.pause()")
    assert player.evaluate("v => [v.videoWidth, v.videoHeight]") == list(CLIP_SIZE)
    assert player.evaluate("v => v.duration") == pytest.approx(CLIP_SECONDS, abs=0.1)
    assert_no_sideways_scroll(ada, "job page, done")
    shoot(ada, "video-job-done")

    # Seeking: paused at 2.5 s it stays there; played from there it moves on from 2.5 s.
    player.evaluate("v => { v.currentTime = 2.5; }")
    ada.wait_for_function(
        "v => !v.seeking && Math.abs(v.currentTime - 2.5) < 0.05 && v.readyState >= 2",
        arg=player.element_handle(),
        timeout=WAIT,
    )
    ada.wait_for_timeout(300)
    assert player.evaluate("v => v.currentTime") == pytest.approx(2.5, abs=0.05)
    player.evaluate(
        """v => {
            v.seenTimes = [];
            v.addEventListener("timeupdate", () => v.seenTimes.push(v.currentTime));
            return v.play();
        }"""
    )
    ada.wait_for_function(
        "v => v.currentTime > 2.8 && !v.error", arg=player.element_handle(), timeout=WAIT
    )
    seen = player.evaluate("v => v.seenTimes")
    assert seen and min(seen) >= 2.45, seen

    # The player asked for the clip in ranges, and the studio answered with parts.
    assert player_loads and all(status == 206 for _, status in player_loads), player_loads
    assert all(header and header.startswith("bytes=") for header, _ in player_loads)

    # The media route answers ranges with the bytes the server made, to members only.
    def fetch(range_header: str = "") -> Any:
        headers = {"Range": range_header} if range_header else {}
        return ada.context.request.get(clip_url, headers=headers)

    whole = fetch()
    assert whole.status == 200 and whole.body() == clip
    assert whole.headers["accept-ranges"] == "bytes"
    part = fetch("bytes=100-1099")
    assert part.status == 206, part.status
    assert part.headers["content-range"] == f"bytes 100-1099/{len(clip)}"
    assert part.body() == clip[100:1100]
    tail = fetch("bytes=-64")
    assert tail.status == 206 and tail.body() == clip[-64:]
    assert fetch(f"bytes={len(clip) + 10}-").status == 416
    stranger = new_page()
    sign_up(stranger, studio, "cyd")
    assert stranger.context.request.get(clip_url).status == 404

    # Ben, a member, may watch it too; the project page lists it with its status and cost.
    ben.goto(job_url)
    expect(ben.locator("[data-testid=video-player]")).to_be_visible()
    expect(ben.locator("[data-testid=run-cancel]")).to_have_count(0)
    ben.goto(f"{studio}/projects/{project}/")
    section = ben.locator("#project-videos")
    expect(section).to_contain_text("rain-soaked harbour")
    expect(section.locator("[data-testid=video-status]")).to_have_text("Done")
    expect(section).to_contain_text("$0.25")
    shoot(ben, "project-videos")

    ada.goto(videos)
    expect(ada.locator("[data-testid=video-job]")).to_have_attribute("data-status", "succeeded")
    assert_no_sideways_scroll(ada, "videos list, one clip")
    shoot(ada, "videos-list-done")

    for page in (ada, ben):
        assert page_errors(page) == [], page_errors(page)


def test_with_no_provider_set_up_every_model_is_greyed_out_and_says_what_to_ask_staff_for(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    studio = studio_server(NO_VIDEO_PROVIDERS)
    page = new_page()
    sign_up(page, studio, "ada")
    project = create_project(page, "Harbour film")
    page.goto(f"{studio}/projects/{project}/videos/")

    notice = page.locator("[data-testid=nothing-configured]")
    expect(notice).to_be_in_viewport()
    expect(notice).to_contain_text("staff")
    options = page.locator("[data-testid=model-option]")
    count = options.count()
    assert count >= 7, count
    needs = {
        "neura": "NEURA_AI_SERVER",
        "runway": "RUNWAY_API_KEY",
        "luma": "LUMA_API_KEY",
        "hunyuan": "HF_TOKEN",
        "cogvideox": "HF_TOKEN",
        "ltx": "HF_TOKEN",
        "self_hosted": "SELF_HOSTED_SERVER",
    }
    for name, variable in needs.items():
        option = page.locator(f"[data-testid=model-option][data-model={name}]")
        expect(option).to_have_attribute("data-configured", "false")
        radio = option.locator("input[type=radio]")
        expect(radio).to_be_disabled()
        expect(option).to_contain_text("Not set up")
        # What to ask staff for is said once per provider, and each greyed model points to it.
        how = page.locator(f"#{radio.get_attribute('aria-describedby')}")
        expect(how).to_be_visible()
        expect(how).to_contain_text(variable)
        expect(how).to_contain_text("Ask staff")
    for index in range(count):
        option = options.nth(index)
        expect(option.locator("input[type=radio]")).to_be_disabled()
        expect(option.locator("input[type=radio]")).not_to_be_checked()
        expect(option).to_have_class(re.compile(r"\bis-off\b"))
        # Greyed out: the model's name in the muted colour, and no pointer.
        name_colour = option.locator(".model-name").evaluate("e => getComputedStyle(e).color")
        assert name_colour == "rgb(98, 106, 133)", name_colour
        assert option.evaluate("e => getComputedStyle(e).cursor") == "not-allowed"
    # Clicking a greyed-out model chooses nothing.
    page.locator("[data-model=runway] .model-name").first.click(force=True)
    assert page.locator("input[name=model]:checked").count() == 0

    # Start cannot be pressed, and next to it the page says why.
    page.fill("textarea[name=prompt]", PROMPT)
    start = page.locator("[data-testid=video-start]")
    expect(start).to_be_disabled()
    problem = page.locator("[data-testid=quote-problem]")
    expect(problem).to_be_visible()
    assert problem.evaluate(
        "(e, b) => e.closest('[data-action-bar]') === b.closest('[data-action-bar]')",
        start.element_handle(),
    )
    expect(problem).to_contain_text("No model can make this clip")
    expect(problem).to_contain_text("ask staff")
    expect(page.locator("[data-testid=video-job]")).to_have_count(0)
    assert_no_sideways_scroll(page, "videos list, nothing configured")
    shoot(page, "videos-unconfigured")
    assert page_errors(page) == [], page_errors(page)
