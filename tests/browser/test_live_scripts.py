"""Scripts live for a teammate, and htmx swaps under the CSP, in a real browser.

A viewer's scripts list and project page show a script the editor starts at once, its status
moving ("Writing, N %") and linking to it, then its end. A textarea someone resized survives an
htmx swap of its form without a single Content-Security-Policy violation (htmx does not settle
the style attribute; the size comes back through the CSSOM)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import create_project

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("AURA_SHOTS_DIR", "")) if os.environ.get("AURA_SHOTS_DIR") else None

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI || "inline"}`);
});
"""


def shoot(page: Any, name: str) -> None:
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


@pytest.fixture
def studio(studio_server: Callable[..., str]) -> str:
    return studio_server({"OLLAMA_HOST": "http://127.0.0.1:9"})


def test_a_teammates_script_appears_moves_and_ends(
    studio: str,
    two_people: Callable[..., Any],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    ada, ben, project = two_people(studio)
    ben.goto(f"{studio}/projects/{project}/scripts/")
    expect(ben.locator("#script-results")).to_have_class(re.compile(r"\blive-on\b"))
    expect(ben.locator("#script-rows")).to_contain_text("No scripts yet")
    ben_project = ben.context.new_page()
    page_errors(ben_project)
    ben_project.goto(f"{studio}/projects/{project}/")
    expect(ben_project.locator("#project-live")).to_have_class(re.compile(r"\blive-on\b"))

    ada.goto(f"{studio}/projects/{project}/scripts/new/")
    ada.fill("textarea[name=topic]", "Tugboats of the harbour at night")
    ada.fill("input[name=duration_seconds]", "300")
    ada.locator("[data-testid=provider-rulebased] input").check()
    ada.click("[data-testid=start]")
    ada.wait_for_url(re.compile(rf"/projects/{project}/scripts/\d+/$"))
    script_path = ada.url.split(studio, 1)[1]

    row = ben.locator("[data-testid=script-row]").first
    expect(row).to_contain_text("Tugboats of the harbour at night")
    status = row.locator("[data-testid=script-status]")
    expect(status).to_contain_text(re.compile(r"Writing, \d+ %"))
    assert status.locator("a").get_attribute("href") == script_path
    found = re.search(r"(\d+) %", status.text_content() or "")
    assert found, status.text_content()
    shoot(ben, "scripts-list-live")
    on_project = ben_project.locator("[data-testid=project-script]").first
    expect(on_project).to_contain_text("Tugboats of the harbour at night")
    expect(on_project.locator("[data-testid=script-status]")).to_contain_text(
        re.compile(r"Writing, \d+ %")
    )
    project_link = on_project.locator("[data-testid=script-status] a")
    assert project_link.get_attribute("href") == script_path
    shoot(ben_project, "project-page-live")

    expect(status).not_to_contain_text(f"Writing, {found.group(1)} %")
    expect(status).to_have_attribute(
        "data-status", re.compile("^(ready|needs_review)$"), timeout=60_000
    )
    expect(status).not_to_contain_text("Writing")
    expect(on_project.locator("[data-testid=script-status]")).to_have_attribute(
        "data-status", re.compile("^(ready|needs_review)$")
    )
    expect(ben_project.locator("#project-activity")).to_contain_text("finished the script")
    shoot(ben, "scripts-list-ended")

    for page in (ben, ben_project):
        errors = page_errors(page)
        assert not errors, errors


def test_a_resized_textarea_survives_a_swap_without_csp_violations(
    studio: str,
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    sign_up(page, studio, "ada")
    project = create_project(page, "Harbour film")

    page.goto(f"{studio}/projects/{project}/roundtables/new/")
    brief = page.locator("#id_brief")
    # What dragging the resize handle does: the browser sets the height through the CSSOM.
    brief.evaluate("(area) => { area.style.height = '260px'; }")
    brief.fill("short")
    form_before = page.locator("#session-form").element_handle()
    assert form_before is not None
    with page.expect_response(re.compile(r"/roundtables/new/$")) as answer:
        page.locator("#session-form [type=submit]").first.click()
    assert answer.value.status == 400 or answer.value.status == 200
    expect(page.locator("#id_brief_error")).to_be_visible()
    assert not form_before.evaluate("(form) => form.isConnected"), "the form was not swapped"
    expect(brief).to_have_attribute("aria-invalid", "true")

    expect(brief).to_have_js_property("value", "short")
    assert brief.evaluate("(area) => area.style.height") == "260px"
    assert brief.evaluate("(area) => area.getBoundingClientRect().height") >= 250
    assert page.evaluate("window.__cspViolations") == []
    errors = page_errors(page)
    assert not [e for e in errors if "Content Security Policy" in e], errors
