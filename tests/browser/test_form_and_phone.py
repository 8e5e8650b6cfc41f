"""The script form where the eye is, and every page of the studio on a phone, in a real Chromium:
the brief, the provider picker and Start on the first screen at 1366x900; a refused Start names
each problem next to Start and focuses the first invalid field; guidance marked fix waits for
"start anyway"; counters, a cut paste, the key point limit, announced moves; badge contrast as
rendered; and no page scrolls sideways at 390 px."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.providers import HANG, SSE_HEADERS, FakeProviderServer, Reply, openai_events

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ["AURA_SHOTS_DIR"]) if os.environ.get("AURA_SHOTS_DIR") else None

# Every visible badge: its text colour against the first opaque background behind it, as
# WCAG 2.x defines the contrast ratio.
BADGE_CONTRAST = """() => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const shown = [...document.querySelectorAll(".badge")].filter((b) => b.getClientRects().length);
  return shown.map((b) => {
    const fg = lum(rgb(getComputedStyle(b).color)), bg = lum(background(b));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    return [b.className + ": " + b.textContent.trim(), ratio];
  });
}"""


def shoot(page: Any, name: str) -> None:
    """With AURA_SHOTS_DIR set, the page at 1366x900 and at 390x844 (left at the phone size)."""
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        # caret="initial": hiding the caret injects a style, which the studio's CSP refuses.
        page.screenshot(path=str(SHOTS / f"{name}-{size['width']}.png"), caret="initial")


def no_sideways_scroll(page: Any, where: str) -> None:
    shoot(page, re.sub(r"\W+", "-", where))
    page.set_viewport_size(PHONE)
    page.wait_for_function("w => window.innerWidth === w", arg=PHONE["width"])
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{where} scrolls sideways at 390 px: {widths}"


def badges_reach_aa(page: Any, where: str, *, some: bool = True) -> None:
    pairs = page.evaluate(BADGE_CONTRAST)
    assert pairs or not some, where
    low = [(name, round(ratio, 2)) for name, ratio in pairs if ratio < 4.5]
    assert not low, f"{where}: {low}"


def in_first_screen(page: Any, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"], (selector, box)


@pytest.fixture
def held_openai() -> Iterator[FakeProviderServer]:
    """An OpenAI fake whose stream sends a first sentence and then holds the line open: the
    run stays live until it is cancelled."""
    with FakeProviderServer() as fake:
        events = openai_events(["## Hook\n\n", "Coffee is ", "a ritual. "], usage=None)
        fake.push(Reply(200, dict(SSE_HEADERS), [*events[:-2], HANG]))
        yield fake


def new_project(page: Any, name: str) -> str:
    from playwright.sync_api import expect

    page.fill("#dashboard-new-project input[name=name]", name)
    page.click("#dashboard-new-project button[type=submit]")
    expect(page.locator("h1")).to_contain_text(name)
    return str(page.url.rstrip("/"))


def test_the_form_starts_where_the_eye_is_and_says_what_stops_it(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    base = studio_server({"OLLAMA_HOST": "http://127.0.0.1:9", "AURA_PROVIDER_CHECKS": "false"})
    page = new_page(viewport=DESKTOP)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    sign_up(page, base, "writer")
    project = new_project(page, "Coffee channel")
    page.goto(f"{project}/scripts/new/")

    # The brief, every provider and Start on the first screen, the expected cost beside Start.
    in_first_screen(page, "textarea[name=topic]")
    for row in page.locator(".provider-row").all():
        box = row.bounding_box()
        assert box is not None and box["y"] + box["height"] <= DESKTOP["height"]
    assert page.locator(".provider-row").count() == 7
    in_first_screen(page, "[data-testid=start]")
    # One line per provider: the row is no taller than its badges' line.
    openai = page.locator("[data-testid=provider-openai]")
    assert (openai.bounding_box() or {}).get("height", 99) < 48
    expect(openai.locator("details")).not_to_have_attribute("open", "")
    openai.locator("summary").click()
    expect(openai).to_contain_text("OPENAI_API_KEY")
    expect(page.locator("[data-testid=expected-cost]")).to_have_text("Free")
    bar = page.locator("[data-testid=action-bar]")
    assert bar.evaluate(
        "(b, s) => b.contains(s)", page.locator("[data-testid=start]").element_handle()
    )
    badges_reach_aa(page, "script form")

    # A counter on the topic; a paste longer than the limit is cut, and the page says so.
    topic = page.locator("textarea[name=topic]")
    expect(page.locator("#id_topic-meta .char-count")).to_have_text("0 / 500")
    topic.fill("How to brew pour-over coffee at home")
    expect(page.locator("#id_topic-meta .char-count")).to_have_text("36 / 500")
    page.evaluate("text => navigator.clipboard.writeText(text)", " and more" * 70)
    topic.focus()
    page.keyboard.press("End")
    page.keyboard.press("Control+V")
    expect(page.locator("#id_topic-meta .char-count")).to_have_text("500 / 500")
    assert len(topic.input_value()) == 500
    note = page.locator("#id_topic-meta .char-note")
    expect(note).to_contain_text("cut to fit 500 characters")
    expect(note).to_contain_text("the last 166 were left out")
    topic.fill("How to brew pour-over coffee at home")
    expect(note).to_be_empty()

    # A one-line field shows its counter once it is nearly full.
    tone = page.locator("input[name=tone]")
    tone.fill("friendly")
    expect(page.locator("#id_tone-meta")).to_be_hidden()
    tone.fill("f" * 85)
    expect(page.locator("#id_tone-meta .char-count")).to_have_text("85 / 100")

    # Moving a key point is announced; "Add key point" stops at the limit and says so.
    rows = page.locator("[data-key-point]")
    rows.nth(0).locator("[data-kp-text]").fill("Grind the beans just before brewing")
    page.click("[data-testid=add-key-point]")
    rows.nth(1).locator("[data-kp-text]").fill("Heat the water to 94 degrees")
    rows.nth(0).locator('[data-kp="down"]').click()
    announce = page.locator("[data-testid=key-point-announce]")
    expect(announce).to_have_text("Key point moved to position 2 of 2.")
    expect(rows.nth(1).locator("[data-kp-text]")).to_have_value(
        "Grind the beans just before brewing"
    )
    add = page.locator("[data-testid=add-key-point]")
    for _ in range(18):
        add.click()
    expect(rows).to_have_count(20)
    expect(add).to_be_disabled()
    expect(page.locator("[data-testid=key-point-limit]")).to_have_text(
        "20 key points is the most a brief can have."
    )
    rows.nth(19).locator('[data-kp="remove"]').click()
    expect(rows).to_have_count(19)
    expect(add).to_be_enabled()
    for index in range(18, 1, -1):
        rows.nth(index).locator('[data-kp="remove"]').click()
    expect(rows).to_have_count(2)

    # A refused Start: the summary beside Start names each problem, the first invalid field
    # is focused and scrolled to, and carries aria-invalid / aria-describedby.
    page.fill("input[name=tone]", "friendly")
    page.fill("input[name=duration_seconds]", "5")
    # Start is in its sticky bar at the foot of the screen wherever the form is scrolled to;
    # the refused Start scrolls back up to the first invalid field.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(page.locator("input[name=duration_seconds]")).not_to_be_in_viewport()
    expect(page.locator("[data-testid=start]")).to_be_in_viewport()
    page.click("[data-testid=start]")
    summary = page.locator("[data-testid=form-errors]")
    expect(summary).to_be_visible()
    expect(summary).to_be_in_viewport()
    expect(summary).to_contain_text("Not started.")
    expect(summary.locator("a")).to_have_text(["Duration (seconds)"])
    duration = page.locator("input[name=duration_seconds]")
    expect(duration).to_be_focused()
    expect(duration).to_be_in_viewport()
    expect(duration).to_have_attribute("aria-invalid", "true")
    described = duration.get_attribute("aria-describedby") or ""
    assert "id_duration_seconds_error" in described.split(), described
    expect(page.locator("#id_duration_seconds_error")).to_contain_text("at least 10")
    expect(page.locator("[data-testid=start-anyway]")).to_have_count(0)
    assert bar.evaluate("(b, s) => b.contains(s)", summary.element_handle())

    # Guidance marked fix waits for "start anyway": a duplicate must point.
    duration.fill("45")
    page.locator("[data-testid=add-key-point]").click()
    rows.nth(2).locator("[data-kp-text]").fill("Heat the water to 94 degrees please")
    expect(page.locator("#guidance")).to_contain_text("duplicates key point 1")
    expect(page.locator("[data-testid=start-anyway]")).to_be_visible()
    page.click("[data-testid=start]")
    expect(summary).to_contain_text("duplicates key point 1")
    third = page.locator("#kp-text-3")
    expect(third).to_be_focused()
    expect(third).to_have_attribute("aria-invalid", "true")
    summary.locator("a").first.click()
    expect(third).to_be_focused()
    page.locator("[data-testid=start-anyway] input").check()
    page.click("[data-testid=start]")
    page.wait_for_url(re.compile(r"/scripts/\d+/"))
    expect(page.locator("[data-testid=script-title]")).to_contain_text("pour-over")

    # The roundtable and video forms share the action bar and its error summary.
    for path, start in (("/roundtables/new/", "session-start"), ("/videos/", "video-start")):
        page.goto(f"{project}{path}")
        # (With no video provider set up, Start is disabled and its bar stays put, covering
        # nothing.)
        if page.locator(f"[data-testid={start}]").is_enabled():
            in_first_screen(page, f"[data-testid={start}]")
            page.click(f"[data-testid={start}]")
            expect(page.locator("[data-testid=form-errors]")).to_be_in_viewport()
            expect(page.locator(":focus")).to_have_attribute("aria-invalid", "true")
        badges_reach_aa(page, path, some=False)

    assert page_errors(page) == [], page_errors(page)


def test_no_page_scrolls_sideways_on_a_phone(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    held_openai: FakeProviderServer,
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
    sign_up(page, base, "a_writer_with_a_long_name")
    project = new_project(page, "A project with a name long enough to wrap on any phone")
    no_sideways_scroll(page, "project page")

    page.goto(f"{project}/scripts/new/")
    no_sideways_scroll(page, "script form")
    # A key point's text gets its own full-width line.
    row = page.locator("[data-key-point]").first
    text_box = row.locator("[data-kp-text]").bounding_box()
    priority_box = row.locator("[data-kp-priority]").bounding_box()
    row_box = row.bounding_box()
    assert text_box and priority_box and row_box
    assert text_box["width"] > row_box["width"] * 0.85, (text_box, row_box)
    assert priority_box["y"] >= text_box["y"] + text_box["height"], (priority_box, text_box)

    # A script on the held OpenAI fake: the run panel while it is live.
    page.fill("textarea[name=topic]", "How to brew pour-over coffee at home, slowly and well")
    row.locator("[data-kp-text]").fill("Heat the water to exactly ninety-four degrees first")
    page.locator("[data-testid=provider-openai] input").check()
    page.click("[data-testid=start]")
    page.wait_for_url(re.compile(r"/scripts/\d+/"))
    script_url = page.url.split("?")[0]
    expect(page.locator("[data-testid=run-text]")).to_contain_text("Coffee is")
    no_sideways_scroll(page, "run panel")
    # The live metrics fold to one line above the text.
    tops = page.locator(".run-metrics > .metric").evaluate_all(
        "ms => ms.map(m => Math.round(m.getBoundingClientRect().top))"
    )
    assert len(tops) > 3 and len(set(tops)) == 1, tops
    metrics = page.locator(".run-metrics").bounding_box()
    text = page.locator("[data-testid=run-text]").bounding_box()
    assert metrics and text and metrics["y"] + metrics["height"] <= text["y"], (metrics, text)
    assert metrics["height"] < 60, metrics
    badges_reach_aa(page, "run panel")
    page.click("[data-testid=run-cancel]")
    expect(page.locator("[data-testid=run-status]")).to_have_text(re.compile("Cancel"))
    no_sideways_scroll(page, "script page")

    # A hand edit, so there are versions to list and compare.
    page.click("[data-testid=edit]")
    editor = page.locator("textarea[name=text]")
    lines = editor.input_value().split("\n")
    removed = next(line for line in lines[1:] if len(line.split()) > 3)
    kept = [line for line in lines if line != removed]
    editor.fill("\n".join(kept) + "\n\nA new closing line that is long enough to wrap twice.")
    page.click("[data-testid=save-edit]")
    expect(page.locator("[data-testid=script-version]")).to_have_attribute("data-version", "2")
    no_sideways_scroll(page, "script page with versions")
    versions = page.locator("[data-testid=versions]")
    expect(versions.locator("thead")).not_to_be_in_viewport()
    assert versions.locator("tbody tr").first.evaluate("r => getComputedStyle(r).display") == (
        "block"
    )

    page.goto(f"{script_url}compare/?a=1&b=2")
    no_sideways_scroll(page, "compare")
    expect(page.locator("[data-testid=diff]")).to_be_hidden()
    inline = page.locator("[data-testid=diff-inline]")
    expect(inline).to_be_visible()
    expect(inline.locator("li ins", has_text="A new closing line")).to_be_visible()
    deleted = inline.locator("li del", has_text=removed[:40])
    expect(deleted).to_be_visible()
    box = deleted.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390, box
    page.set_viewport_size(DESKTOP)
    expect(page.locator("[data-testid=diff]")).to_be_visible()
    expect(inline).to_be_hidden()

    page.goto(f"{project}/scripts/")
    no_sideways_scroll(page, "scripts list")
    first = page.locator("[data-testid=script-list] tbody tr").first
    assert first.evaluate("r => getComputedStyle(r).display") == "block"

    for path, where in (
        ("/roundtables/new/", "roundtable form"),
        ("/roundtables/", "roundtables list"),
        ("/videos/", "videos page"),
        ("/scripts/personas/", "personas"),
        ("/", "project page with a script"),
    ):
        page.goto(f"{project}{path}")
        no_sideways_scroll(page, where)

    assert page_errors(page) == [], page_errors(page)
