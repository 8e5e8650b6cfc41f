"""The spend page in a real browser: the project page's card, then the page's charts (SVG with
their accessible names, as many bars as their tables have rows), the period picker, the CSV
download summing to the ledger, and no sideways scroll on a phone or a laptop."""

from __future__ import annotations

import csv
import datetime
import io
import os
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from generation.benchmarks.studio import manage
from tests.browser.conftest import BROWSER_PASSWORD

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("AURA_SHOTS_DIR", "")) if os.environ.get("AURA_SHOTS_DIR") else None
"""Where to save screenshots of the pages (set AURA_SHOTS_DIR to look at them)."""
SIZES = ((1366, 900), (390, 844))
_INHERITED_OUT = ("DATABASE_URL", "REDIS_URL", "AURA_RUNNER", "DJANGO_SETTINGS_MODULE")

SEED = """
import datetime
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.utils import timezone
from aura_site.projects.models import Membership, Project, Role
from generation.costs.models import Budget, CostRecord
from generation.runs.models import Run

project = Project.objects.get(pk={project})
ada = get_user_model().objects.get(username="ada")
ben = get_user_model().objects.create_user("ben", "ben@example.com", "a-long-pass-phrase-42")
Membership.objects.create(project=project, user=ben, role=Role.EDITOR)
now = timezone.now()
first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
runs = {{k: Run.objects.create(project=project, kind=k, created_by=ada)
        for k in ("script", "roundtable", "video")}}
rows = [
    ("script", ada, "openai", "gpt-4o-mini", "0.01234567"),
    ("script", ben, "anthropic", "claude-sonnet-4-20250514", "0.20000001"),
    ("roundtable", ben, "openai", "gpt-4o", "1.33333333"),
    ("roundtable", ada, "gemini", "gemini-2.5-flash", "0.07000000"),
    ("video", ada, "runway", "gen4_turbo", "2.50000000"),
    ("video", ben, "luma", "ray-flash-2", "0.90000000"),
]
days = max(1, now.day)
for index, (kind, user, provider, model, cost) in enumerate(rows * 2):
    moment = min(now, first + datetime.timedelta(days=(index * 3) % days, hours=index))
    CostRecord.objects.create(
        project=project, user=user, run_id=str(runs[kind].pk), provider=provider, model=model,
        cost=Decimal(cost), outcome="succeeded", created_at=moment,
    )
Budget.objects.create(scope="project", project=project, period="month", limit_usd=Decimal("20"))
get_user_model().objects.create_superuser("sam", "sam@example.com", "a-long-pass-phrase-42")
"""
SEEDED_TOTAL = Decimal("10.03135802")


def shoot(page: Any, name: str) -> None:
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def no_sideways_scroll(page: Any) -> None:
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, (width, scroll)
    page.set_viewport_size({"width": 1366, "height": 900})


def bars_match_rows(page: Any, dimension: str) -> int:
    from playwright.sync_api import expect

    chart = page.locator(f"[data-testid=spend-chart-{dimension}]")
    rows = page.locator(f"[data-testid=spend-table-{dimension}] tbody tr")
    count = rows.count()
    assert count > 0
    expect(chart.locator("rect.spend-bar")).to_have_count(count)
    return count


def test_spend_page_and_its_charts(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    base = studio_server({"DATABASE_URL": database})
    page = new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    sign_up(page, base, "ada")
    page.fill("#dashboard-new-project input[name=name]", "Harbour film")
    page.click("#dashboard-new-project button[type=submit]")
    match = re.search(r"/projects/(\d+)/", page.url)
    assert match, page.url
    project = match.group(1)

    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_OUT}
    env.update({"DATABASE_URL": database, "AURA_DATA_DIR": str(tmp_path)})
    manage(env, "shell", "-c", SEED.format(project=project))

    # The project page: this month's spend and the budget left.
    page.goto(f"{base}/projects/{project}/")
    card = page.locator("[data-testid=project-spend]")
    expect(card.locator("[data-testid=spend-mtd]")).to_have_text("$10.03")
    expect(card.locator("[data-testid=budget-left]")).to_have_text("$9.97")
    shoot(page, "spend-project-card")
    card.locator("[data-testid=project-spend-link]").click()
    page.wait_for_url(f"{base}/projects/{project}/spend/")

    month = datetime.datetime.now(datetime.UTC).strftime("%B %Y")
    expect(page.get_by_role("img", name=f"Spend by day, {month} to date")).to_be_visible()
    expect(page.get_by_role("img", name=f"Spend by provider, {month} to date")).to_be_visible()
    expect(page.locator("[data-testid=spend-total]")).to_have_text("$10.03")
    assert bars_match_rows(page, "day") == datetime.datetime.now(datetime.UTC).day
    assert bars_match_rows(page, "provider") == 5
    assert bars_match_rows(page, "product") == 3
    assert bars_match_rows(page, "model") == 6
    assert bars_match_rows(page, "user") == 2
    no_sideways_scroll(page)
    shoot(page, "spend-page")

    # The ledger behind the view, as CSV, sums to it exactly.
    with page.expect_download() as download:
        page.click("[data-testid=spend-csv]")
    text = Path(download.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 12
    assert sum(Decimal(row["cost_usd"]) for row in rows) == SEEDED_TOTAL

    # Narrowed to one provider: its figures, and the CSV of just those rows.
    page.locator("[data-testid=spend-table-provider] a", has_text="runway").click()
    expect(page.locator("[data-testid=spend-filters]")).to_contain_text("runway")
    expect(page.locator("[data-testid=spend-total]")).to_have_text("$5.00")
    with page.expect_download() as download:
        page.click("[data-testid=spend-csv]")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {row["provider"] for row in rows} == {"runway"} and len(rows) == 2

    # Another period, picked from the list (the page submits it on change).
    page.select_option("#spend-period-select", "30d")
    page.wait_for_url(re.compile(r"period=30d"))
    expect(page.get_by_role("img", name="Spend by day, Last 30 days")).to_be_visible()
    assert bars_match_rows(page, "day") == 30
    no_sideways_scroll(page)
    shoot(page, "spend-page-30d")

    assert page_errors(page) == []

    # Staff see the same figures across projects in the admin, from the cost ledger's list.
    staff = new_page(viewport={"width": 1366, "height": 900})
    failed: list[str] = []
    staff.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    staff.goto(f"{base}/admin/login/?next=/admin/costs/costrecord/")
    staff.fill("input[name=username]", "sam")
    staff.fill("input[name=password]", BROWSER_PASSWORD)
    staff.click("input[type=submit]")
    staff.click("[data-testid=spend-admin-link]")
    staff.wait_for_url(f"{base}/admin/spend/")
    expect(staff.get_by_role("img", name=f"Spend by project, {month} to date")).to_be_visible()
    expect(staff.locator("[data-testid=spend-total]")).to_have_text("$10.03")
    assert bars_match_rows(staff, "project") == 1
    assert bars_match_rows(staff, "provider") == 5
    no_sideways_scroll(staff)
    shoot(staff, "spend-admin")
    # The admin's pages link no icon, so the browser's own request for one is their only 404.
    assert [url for url in failed if not url.endswith("/favicon.ico")] == []
    assert [e for e in page_errors(staff) if "status of 404" not in e] == []
