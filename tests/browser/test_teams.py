"""Two people in two browsers: an invitation shows up live on the invitee's open dashboard, and
the project page's member list follows additions and removals without a reload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_invitation_appears_live(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
) -> None:
    from playwright.sync_api import expect

    base = studio_server()
    ada, ben = new_page(), new_page()
    sign_up(ada, base, "ada")
    sign_up(ben, base, "ben")

    # Ben watches his (empty) dashboard; it is connected to its live channel.
    expect(ben.locator("#dashboard-live.live-on")).to_have_count(1)
    expect(ben.locator("#dashboard-projects")).to_contain_text("No projects yet")
    ben.evaluate("window.__sameDocument = true")

    # Ada creates a project and opens it; her page follows the member list live too.
    ada.fill("#dashboard-new-project input[name=name]", "Harbour film")
    ada.fill("#dashboard-new-project textarea[name=description]", "A short about the pier.")
    ada.click("#dashboard-new-project button[type=submit]")
    expect(ada.locator("h1")).to_contain_text("Harbour film")
    expect(ada.locator("#project-live.live-on")).to_have_count(1)
    project_url = ada.url

    # A teammate (Ada again, in a second tab) watches the project page while Ada invites Ben.
    watcher = ada.context.new_page()
    page_errors(watcher)
    watcher.goto(project_url)
    expect(watcher.locator("#project-live.live-on")).to_have_count(1)
    watcher.evaluate("window.__sameDocument = true")
    expect(watcher.locator("#project-members li")).to_have_count(1)

    ada.fill("#project-member-invite input[name=user]", "ben@example.com")
    ada.select_option("#project-member-invite select[name=role]", "editor")
    ada.click("#project-member-invite button[type=submit]")
    expect(ada.locator("#project-members")).to_contain_text("ben")

    # Ben's open dashboard shows the project, with his role, without a reload.
    card = ben.locator("#dashboard-projects .project-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Harbour film")
    expect(card).to_contain_text("Editor")
    expect(ben.locator("#dashboard-activity")).to_contain_text("added ben as editor")
    assert ben.evaluate("window.__sameDocument") is True

    # The watching tab's member list grew live.
    expect(watcher.locator("#project-members li")).to_have_count(2)
    expect(watcher.locator("#project-members")).to_contain_text("ben")

    # Ben opens the project from his dashboard and sees both members.
    card.locator("a").click()
    expect(ben.locator("#project-members li")).to_have_count(2)
    expect(ben.locator("#project-live.live-on")).to_have_count(1)
    ben.evaluate("window.__sameDocument = true")

    # Ada removes Ben: the watcher's list shrinks, and Ben's open project page says he lost access.
    ada.once("dialog", lambda dialog: dialog.accept())
    ada.locator("#project-members li", has_text="ben").locator("button.danger").click()
    expect(watcher.locator("#project-members li")).to_have_count(1)
    expect(ben.locator("#project-body")).to_contain_text("no longer a member")
    assert ben.evaluate("window.__sameDocument") is True
    assert watcher.evaluate("window.__sameDocument") is True

    for page in (ada, ben, watcher):
        assert page_errors(page) == []
