"""Fixtures for browser tests: the real studio in a subprocess and a headless Chromium.

``studio_server(env=None) -> base_url`` starts Daphne on a fresh SQLite database (a copy of one
migrated once per session) in a temporary data folder (production settings, plain HTTP), waits
until ``/health`` answers and stops it at teardown, printing its log when the test failed.
``browser`` is one Chromium per session;
``new_page()`` opens a page in a fresh context (its own cookies, so two calls are two people);
``page_errors(page)`` lists the page's script and console errors.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from generation.benchmarks.studio import daphne_start, manage, process_stop
from tests import secrets_watch

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Variables of the parent environment that would point the child at shared services.
_INHERITED_OUT = ("DATABASE_URL", "REDIS_URL", "AURA_RUNNER", "DJANGO_SETTINGS_MODULE")
_STARTUP_SECONDS = 60.0
BROWSER_PASSWORD = "a-long-pass-phrase-42"


class StudioProcess:
    """One studio served by Daphne in a subprocess, with its log file."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def migrate(self) -> None:
        manage(self.env, "migrate", "--noinput", "-v", "0")

    def start(self) -> str:
        self.process, self.base_url = daphne_start(
            self.env, self.log_path, startup_seconds=_STARTUP_SECONDS
        )
        return self.base_url

    def stop(self) -> None:
        process_stop(self.process)
        secrets_watch.add(self.log())

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


@pytest.fixture(scope="session")
def migrated_database() -> Iterator[Path]:
    """A SQLite database migrated once for the session; each studio starts on a copy of it
    (the migrations read nothing of a studio's environment but the user model)."""
    with tempfile.TemporaryDirectory(prefix="aura-migrated-") as temp:
        data_dir = Path(temp)
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED_OUT}
        env.update({"DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}", "AURA_DATA_DIR": temp})
        manage(env, "migrate", "--noinput", "-v", "0")
        yield data_dir / "db.sqlite3"


@pytest.fixture
def studio_server(
    request: pytest.FixtureRequest, migrated_database: Path
) -> Iterator[Callable[..., str]]:
    """Factory: ``studio_server(env=None)`` starts a studio and returns its base URL."""
    started: list[StudioProcess] = []
    temp_dirs: list[tempfile.TemporaryDirectory[str]] = []

    def start(env: dict[str, str] | None = None) -> str:
        temp = tempfile.TemporaryDirectory(prefix="aura-studio-")
        temp_dirs.append(temp)
        data_dir = Path(temp.name)
        child_env = {k: v for k, v in os.environ.items() if k not in _INHERITED_OUT}
        child_env.update(
            {
                "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
                "AURA_DATA_DIR": str(data_dir),
                "DJANGO_DEBUG": "false",
                "DJANGO_SECURE_SSL_REDIRECT": "false",
                "DJANGO_SECURE_COOKIES": "false",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        child_env.update(env or {})
        (data_dir / "static").mkdir(exist_ok=True)
        server = StudioProcess(data_dir, child_env)
        started.append(server)
        if child_env["DATABASE_URL"] == f"sqlite:///{data_dir / 'db.sqlite3'}":
            shutil.copyfile(migrated_database, data_dir / "db.sqlite3")
        else:
            server.migrate()
        return server.start()

    yield start

    for server in started:
        server.stop()
        if _failed(request):
            sys.stderr.write(f"\n--- studio log ({server.base_url}) ---\n{server.log()}\n")
    for temp in temp_dirs:
        temp.cleanup()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait for the page; on a shared two-core machine a studio process can take a
    # while to stream, so they wait up to 15 s (a test that waits for more says so).
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Factory: a fresh browser context (its own cookies and storage: one person)."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page_errors() -> Callable[[Page], list[str]]:
    """``page_errors(page)``: the page's uncaught errors and console errors, collected live."""
    logs: dict[int, list[str]] = {}

    def errors_of(page: Page) -> list[str]:
        if id(page) not in logs:
            errors: list[str] = []
            logs[id(page)] = errors
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
        return logs[id(page)]

    return errors_of


@pytest.fixture
def new_page(
    new_context: Callable[..., BrowserContext], page_errors: Callable[[Page], list[str]]
) -> Callable[..., Page]:
    """Factory: a page in a fresh context (a new person); ``page_errors(page)`` has its errors."""

    def make(**options: Any) -> Page:
        page = new_context(**options).new_page()
        page_errors(page)
        return page

    return make


def create_project(page: Page, name: str) -> int:
    """Make a project from the dashboard; its id, on its page."""
    from playwright.sync_api import expect

    page.fill("#dashboard-new-project input[name=name]", name)
    page.click("#dashboard-new-project button[type=submit]")
    expect(page.locator("h1")).to_contain_text(name)
    match = re.search(r"/projects/(\d+)/", page.url)
    assert match, page.url
    return int(match.group(1))


def invite(page: Page, username: str, role: str) -> None:
    """Add ``username`` to the project whose page ``page`` shows, and wait until listed."""
    from playwright.sync_api import expect

    page.fill("#project-member-invite input[name=user]", username)
    page.select_option("#project-member-invite select[name=role]", role)
    page.click("#project-member-invite button[type=submit]")
    expect(page.locator("#project-members")).to_contain_text(username)


@pytest.fixture
def two_people(
    new_page: Callable[..., Page], sign_up: Callable[..., None]
) -> Callable[..., tuple[Page, Page, int]]:
    """``two_people(studio, name="Harbour film", role="viewer")``: ada and ben sign up, ada
    makes a project and adds ben with ``role``; both pages and the project's id, ada's page on
    the project."""

    def make(
        studio: str, name: str = "Harbour film", role: str = "viewer"
    ) -> tuple[Page, Page, int]:
        ada, ben = new_page(), new_page()
        sign_up(ada, studio, "ada")
        sign_up(ben, studio, "ben")
        project = create_project(ada, name)
        invite(ada, "ben", role)
        return ada, ben, project

    return make


LOCAL_ZONE = "Asia/Kolkata"
"""A viewer's time zone for the tests of local times: UTC+05:30, so that the hour and the
minutes both differ from UTC."""


def local_clock(iso: str | None, zone: str = LOCAL_ZONE, *, date: bool = False) -> str:
    """How a page in ``zone`` with the en-GB locale writes a moment: "02:09", or with
    ``date`` "3 Dec 2026, 02:09"."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert iso, "the <time> has no datetime"
    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    clock = moment.strftime("%H:%M")
    return f"{moment.day} {moment.strftime('%b %Y')}, {clock}" if date else clock


@pytest.fixture
def sign_up() -> Callable[..., None]:
    """``sign_up(page, base_url, username, password=...)`` creates an account through the page."""

    def run(page: Page, base_url: str, username: str, password: str = BROWSER_PASSWORD) -> None:
        page.goto(f"{base_url}/accounts/signup/")
        page.fill("input[name=username]", username)
        page.fill("input[name=email]", f"{username}@example.com")
        page.fill("input[name=password1]", password)
        page.fill("input[name=password2]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")

    return run


@pytest.fixture
def log_in() -> Callable[..., None]:
    """``log_in(page, base_url, username, password)`` logs in through the login page."""

    def run(page: Page, base_url: str, username: str, password: str) -> None:
        page.goto(f"{base_url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")

    return run
