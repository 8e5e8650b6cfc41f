"""The API reference from the token pages, in a real browser: the link on the page that shows a
new token opens /api/v1/docs, which renders every route under the studio's CSP."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("AURA_SHOTS_DIR", "")) if os.environ.get("AURA_SHOTS_DIR") else None

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI || "inline"}`);
});
"""


def test_the_token_page_links_to_a_working_reference(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    studio = studio_server({"OLLAMA_HOST": "http://127.0.0.1:9"})
    page = new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    sign_up(page, studio, "ada")
    page.goto(f"{studio}/accounts/")
    expect(page.locator("#api-tokens [data-testid=api-docs]")).to_have_attribute(
        "href", "/api/v1/docs"
    )
    page.fill("#api-tokens input[name=name]", "Scripts")
    page.click("#api-tokens button[type=submit].primary")
    expect(page.locator("#new-token")).to_contain_text("aura_")
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in ((1366, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(SHOTS / f"token-created-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1366, "height": 900})
    page.click("[data-testid=api-docs]")
    page.wait_for_url(f"{studio}/api/v1/docs")
    expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/projects/{project_id}/scripts")
    expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/scripts/{script_id}/export")
    assert page.evaluate("window.__cspViolations") == []
    errors = page_errors(page)
    assert not errors, errors
