"""The studio on its embedded defaults, as `make run` serves it: Ollama (nothing listens on its
default address) reads "not set up" rather than "configured", and a script written on Auto lands
on the offline template without a single failure shown: no error, no provider passed over."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.test_runs import create_project

pytestmark = pytest.mark.browser


def test_auto_on_the_defaults_writes_a_script_without_a_failure(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    studio = studio_server()
    ada = new_page()
    sign_up(ada, studio, "ada")
    project = create_project(ada, "Defaults film")
    ada.goto(f"{studio}/projects/{project}/scripts/new/")

    ollama = ada.locator("[data-testid=provider-ollama]")
    expect(ollama).to_contain_text("not set up")
    expect(ollama).not_to_contain_text("configured")
    expect(ollama.locator("input")).to_be_disabled()
    expect(ada.locator("[data-testid=provider-auto] input")).to_be_checked()

    ada.fill("textarea[name=topic]", "Lighthouses of the northern coast")
    ada.click("[data-testid=start]")
    ada.wait_for_url(re.compile(rf"/projects/{project}/scripts/\d+/$"))
    panel = ada.locator("section.run-panel")
    expect(panel).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(panel.locator("[data-testid=run-error]")).to_have_count(0)
    expect(panel.locator("[data-testid=run-switch]")).to_have_count(0)
    expect(panel.locator("[data-metric=provider]")).to_have_text("rulebased")
    expect(panel).not_to_contain_text(re.compile("ollama", re.IGNORECASE))
    assert page_errors(ada) == []
