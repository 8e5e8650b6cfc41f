"""Hostile model output in a real browser: one studio whose OpenAI fake answers every script
and roundtable step with the XSS corpus (tests/fakes/hostile.py) and whose custom video server
answers with hostile status words, errors and metadata. Through the script page (live and
saved), the edit and compare pages, the exports, the roundtable's cards, debate, synthesis and
shot table, the video jobs started from a hostile shot, and the admin's change pages, nothing
executes or loads: no dialog, no request off the studio or to a payload's URL, no CSP report,
``window.__pwned`` never set, and the payloads' characters are on screen as text."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generation.benchmarks.studio import manage
from tests.browser.conftest import BROWSER_PASSWORD
from tests.fakes.hostile import MARKER, PAYLOADS, HostileTable, hostile_video_states
from tests.fakes.videos import FakeNeura

pytestmark = pytest.mark.browser

WAIT = 60_000
_INHERITED_OUT = ("DATABASE_URL", "REDIS_URL", "AURA_RUNNER", "DJANGO_SETTINGS_MODULE")
SECOND_PROMPT = "Second clip: " + PAYLOADS["hx-on"] + " " + PAYLOADS["img-onerror"]
STAFF = """
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser("sam", "sam@example.com", "a-long-pass-phrase-42")
"""


class Guard:
    """What a page did that content must never make it do."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.violations: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("popup", lambda popup: self.requests.append(f"popup {popup.url}"))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _request(self, request: Any) -> None:
        url = request.url
        own = url.startswith(self.base + "/") or url.startswith(
            self.base.replace("http://", "ws://") + "/"
        )
        if not own or MARKER in url.split("?")[0].lower():
            self.requests.append(url)

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text or MARKER in text.lower():
            self.violations.append(text)

    def check(self, where: str) -> None:
        assert self.page.evaluate("() => window.__pwned") is None, where
        assert self.page.evaluate("() => document.querySelectorAll('base').length") == 0, where
        assert not self.dialogs, (where, self.dialogs)
        assert not self.requests, (where, self.requests)
        assert not self.violations, (where, self.violations)


@pytest.fixture
def hostile() -> Iterator[HostileTable]:
    with HostileTable(size=40, delay=0.02) as fake:
        yield fake


@pytest.fixture
def neura() -> Iterator[FakeNeura]:
    from tests.videos_media.make import moving_pattern_mp4

    failing, completing = hostile_video_states()
    with FakeNeura(video=moving_pattern_mp4(seconds=2.0)) as fake:
        fake.next_job(failing)
        fake.next_job(completing)
        yield fake


def shown(page: Any, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def test_hostile_model_output_never_runs_or_loads_and_is_shown_as_text(
    studio_server: Callable[..., str],
    hostile: HostileTable,
    neura: FakeNeura,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    base = studio_server(
        {
            "DATABASE_URL": database,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": hostile.base_url,
            "OLLAMA_HOST": "http://127.0.0.1:9",
            "NEURA_AI_SERVER": neura.base_url,
            "NEURA_API_KEY": neura.api_key,
            "RUNWAY_API_KEY": "",
            "LUMA_API_KEY": "",
            "HF_TOKEN": "",
            "SELF_HOSTED_SERVER": "",
            "AURA_VIDEO_POLL_SECONDS": "0.2",
            "AURA_VIDEO_POLL_MAX_SECONDS": "0.5",
        }
    )
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_OUT}
    env.update({"DATABASE_URL": database, "AURA_DATA_DIR": str(tmp_path)})
    manage(env, "shell", "-c", STAFF)

    page = new_page()
    guard = Guard(page, base)
    sign_up(page, base, "ada")
    # The second line of defence: htmx runs no script and evaluates nothing; the CSP refuses
    # inline script and eval.
    config = page.evaluate(
        "() => [htmx.config.allowScriptTags, htmx.config.allowEval, htmx.config.selfRequestsOnly]"
    )
    assert config == [False, False, True], config
    policy = page.context.request.get(f"{base}/").headers["content-security-policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'self'" in script_src and "'nonce-" in script_src, policy
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src, policy
    page.fill("#dashboard-new-project input[name=name]", "Harbour film")
    page.click("#dashboard-new-project button[type=submit]")
    match = re.search(r"/projects/(\d+)/", page.url)
    assert match, page.url
    project = match.group(1)

    # The script page: the payloads stream in as text, then the saved script shows them.
    page.goto(f"{base}/projects/{project}/scripts/new/")
    page.fill("textarea[name=topic]", "Night photography for beginners")
    page.fill("input[name=duration_seconds]", "60")
    page.locator("[data-testid=provider-openai] input").check()
    page.click("[data-testid=start]")
    live = page.locator("[data-testid=run-text]")
    expect(live).to_contain_text(PAYLOADS["script"], timeout=WAIT)
    guard.check("script page, streaming")
    expect(page.locator("[data-testid=script-version]")).to_be_visible(timeout=WAIT)
    page.wait_for_timeout(300)
    guard.check("script page, saved")
    saved = shown(page, "[data-testid=script-text]")
    for name in ("script", "svg-onload", "hx-get", "hx-on", "template-var", "markdown-link"):
        assert PAYLOADS[name] in saved, name
    assert page.locator("[data-testid=script-text] img, [data-testid=script-text] svg").count() == 0
    script_url = page.url.split("?")[0]

    # Edit, then compare the two versions: the diff shows the payloads as text.
    page.click("[data-testid=edit]")
    editor = page.locator("textarea[name=text]")
    assert PAYLOADS["textarea-breakout"] in editor.input_value()
    editor.fill(editor.input_value() + "\n" + PAYLOADS["iframe"] + "\n")
    page.click("[data-testid=save-edit]")
    expect(page.locator("[data-testid=script-text]")).to_contain_text(PAYLOADS["iframe"])
    page.click("[data-testid=compare]")
    expect(page.locator("[data-testid=diff]")).to_contain_text(PAYLOADS["iframe"])
    expect(page.locator("[data-testid=diff]")).to_contain_text(PAYLOADS["script"])
    assert page.locator("[data-testid=diff] iframe").count() == 0
    guard.check("compare page")

    # The exports download as what they are, never as a page.
    page.goto(script_url)
    for fmt in ("md", "txt", "srt", "vtt", "csv"):
        href = page.locator(f"[data-testid=export-{fmt}]").get_attribute("href")
        response = page.context.request.get(base + str(href))
        assert response.status == 200, fmt
        headers = response.headers
        assert "html" not in headers["content-type"], (fmt, headers["content-type"])
        assert headers["content-disposition"].startswith("attachment"), fmt
        assert headers["x-content-type-options"] == "nosniff", fmt
        if fmt == "md":
            assert PAYLOADS["script"] in response.text()
    guard.check("exports")

    # The roundtable: cards, debate, synthesis and shot table, live and at the end.
    page.goto(f"{base}/projects/{project}/roundtables/new/")
    page.fill("textarea[name=brief]", "A thirty second film about a harbour pilot at dusk.")
    page.fill("input[name=duration_seconds]", "30")
    page.select_option("select[name=provider]", "openai")
    page.click("[data-testid=session-start]")
    page.wait_for_url(re.compile(rf"/projects/{project}/roundtables/\d+/$"))
    expect(page.locator("[data-testid=agent-text-director]")).to_contain_text(
        "<script>", timeout=WAIT
    )
    guard.check("roundtable, streaming")
    expect(page.locator("section.roundtable-panel")).to_have_attribute(
        "data-status", "succeeded", timeout=WAIT
    )
    for key in ("director", "cinematographer", "editor", "colorist", "platform_expert"):
        assert PAYLOADS["hx-get"] in shown(page, f"[data-testid=agent-text-{key}]"), key
    assert PAYLOADS["script"] in shown(page, "[data-testid=debate-asks]")
    assert PAYLOADS["svg-animate"] in shown(page, "[data-testid=synthesis-text]")
    table = page.locator("[data-testid=shot-table]")
    expect(table.locator("tbody tr")).to_have_count(4)
    assert "onfocus=" in table.inner_text() and "<svg" in table.inner_text()
    assert table.locator("svg, img, a[href^=javascript], [onfocus]").count() == 0
    guard.check("roundtable, done")
    replay = page.locator("[data-replay]").get_attribute("data-replay")
    events = page.context.request.get(base + str(replay))
    assert events.headers["content-type"].startswith("application/json")
    assert events.headers["x-content-type-options"] == "nosniff"
    # Once the session's versions are stored the page draws its parts from them (the section
    # below the panel then carries their token): the text as the page shows it after a reload.
    expect(page.locator("[data-testid=versions]")).not_to_have_attribute(
        "hx-get", re.compile("token=none"), timeout=WAIT
    )
    director = shown(page, "[data-testid=agent-text-director]")
    page.click("[data-testid=replay-instant]")
    expect(page.locator("[data-testid=agent-text-director]")).to_have_text(director)
    guard.check("roundtable, replayed")
    page.reload()
    expect(page.locator("[data-testid=shot-table] tbody tr")).to_have_count(4)
    guard.check("roundtable, reloaded")

    # A clip of a hostile shot: its prompt, status, error and metadata are text.
    page.locator("[data-testid=shot-to-clip]").first.click()
    prompt = page.locator("textarea[name=prompt]").input_value()
    assert "onfocus=" in prompt, prompt
    page.click("[data-testid=video-start]")
    page.wait_for_url(re.compile(rf"/projects/{project}/videos/\d+/$"))
    panel = page.locator("[data-testid=video-panel]")
    expect(panel).to_have_attribute("data-status", "failed", timeout=WAIT)
    expect(panel).to_contain_text(PAYLOADS["script"])
    guard.check("video job, failed")
    # Two more tabs follow the project live while the next job runs.
    watchers = []
    for url in (f"{base}/projects/{project}/videos/", f"{base}/projects/{project}/"):
        watcher = page.context.new_page()
        watchers.append((watcher, Guard(watcher, base), url))
        watcher.goto(url)
    expect(watchers[0][0].locator("#video-jobs-live.live-on")).to_have_count(1)
    page.goto(f"{base}/projects/{project}/videos/")
    page.fill("textarea[name=prompt]", SECOND_PROMPT)
    page.fill("input[name=duration_seconds]", "2")
    page.click("[data-testid=video-start]")
    page.wait_for_url(re.compile(rf"/projects/{project}/videos/\d+/$"))
    panel = page.locator("[data-testid=video-panel]")
    expect(panel).to_have_attribute("data-status", "succeeded", timeout=WAIT)
    expect(page.locator("body")).to_contain_text(PAYLOADS["img-onerror"])
    guard.check("video job, done")
    live_list = watchers[0][0].locator("[data-testid=video-job]")
    expect(live_list).to_have_count(2)
    expect(live_list.first).to_have_attribute("data-status", "succeeded", timeout=WAIT)
    expect(live_list.first).to_contain_text(SECOND_PROMPT[:40])
    expect(watchers[1][0].locator("#project-videos")).to_contain_text(SECOND_PROMPT[:40])
    for watcher, watcher_guard, url in watchers:
        watcher_guard.check(f"live {url}")
        watcher.close()
    page.goto(f"{base}/projects/{project}/videos/")
    expect(page.locator("[data-testid=video-job]")).to_have_count(2)
    expect(page.locator("[data-testid=video-jobs]")).to_contain_text(SECOND_PROMPT[:40])
    guard.check("videos list")
    page.goto(f"{base}/projects/{project}/")
    guard.check("project page")

    # The admin: the change pages of the runs and of their cost records.
    staff = new_page()
    staff_guard = Guard(staff, base)
    staff.goto(f"{base}/admin/login/?next=/admin/runs/run/")
    staff.fill("input[name=username]", "sam")
    staff.fill("input[name=password]", BROWSER_PASSWORD)
    staff.click("input[type=submit]")
    staff.wait_for_url(f"{base}/admin/runs/run/")
    run_links = [
        str(link.get_attribute("href")) for link in staff.locator("#result_list tbody th a").all()
    ]
    assert len(run_links) >= 4, run_links
    for href in run_links:
        staff.goto(base + href)
        staff_guard.check(f"admin {href}")
    staff.goto(f"{base}/admin/costs/costrecord/")
    record_links = [
        str(link.get_attribute("href")) for link in staff.locator("#result_list tbody th a").all()
    ][:3]
    assert record_links
    for href in record_links:
        staff.goto(base + href)
        staff_guard.check(f"admin {href}")
    assert "gpt-pwned" in staff.locator("body").inner_text()
