"""Times read in the viewer's own time zone, one style across the studio: a page in a zone
five and a half hours from UTC shows every absolute time in that zone (none says UTC), and a
relative time ("just now") gives the local date and time on hover."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import LOCAL_ZONE, local_clock
from tests.browser.test_runs import create_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_times_read_in_the_viewers_time_zone(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    studio = studio_server()
    ada = new_page(timezone_id=LOCAL_ZONE, locale="en-GB")
    sign_up(ada, studio, "ada")
    create_project(ada, "Time film")

    ada.goto(f"{studio}/")
    created = ada.locator("#dashboard-activity time[data-local=ago]").first
    expect(created).to_have_text("just now")
    expect(created).to_have_attribute(
        "title", local_clock(created.get_attribute("datetime"), date=True)
    )

    ada.goto(f"{studio}/accounts/")
    ada.fill("input[name=name]", "Laptop")
    ada.click("text=Create token")
    expect(ada.locator("h1")).to_contain_text("token")
    ada.goto(f"{studio}/accounts/")
    made = ada.locator("#token-list time[data-local=datetime]").first
    expect(made).to_have_text(local_clock(made.get_attribute("datetime"), date=True))
    since = ada.locator("time[data-local=date]").first
    expected_day = local_clock(since.get_attribute("datetime"), date=True).split(",")[0]
    expect(since).to_have_text(expected_day)
    assert "UTC" not in ada.locator("main").inner_text()
    assert page_errors(ada) == []
