"""Spend: a project's figures by day, product, provider, model and person for a chosen period;
who sees what (members the totals, owners the detail, outsiders nothing); the ledger as CSV,
exact to the ledger and safe to open in a spreadsheet; the project page's card with this
month's spend and the budgets left; staff's spend across projects in the admin."""

from __future__ import annotations

import csv
import datetime
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from aura_site.projects.models import Project, Role
from generation.costs.models import Budget, CostRecord
from generation.costs.services import ledger_total
from generation.runs.models import Run
from generation.spend.exports import cell_text
from generation.spend.periods import period_choices, period_parse
from generation.spend.selectors import NONE, Dimension, spend_summary

# The sums are SQL: tests/test_services.py runs these again on PostgreSQL.
pytestmark = [pytest.mark.django_db, pytest.mark.integration]

APRIL = "2025-04"
NOW = datetime.datetime(2025, 5, 20, 12, tzinfo=datetime.UTC)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime(2025, 4, day, hour, minute, second, tzinfo=datetime.UTC)


@dataclass
class Studio:
    project: Project
    other: Project
    users: dict[str, Any]
    runs: dict[str, Run]

    def record(self, **fields: Any) -> CostRecord:
        fields.setdefault("project", self.project)
        fields.setdefault("outcome", "succeeded")
        fields.setdefault("provider", "openai")
        fields.setdefault("model", "gpt-4o-mini")
        return CostRecord.objects.create(**fields)


@pytest.fixture
def studio(
    make_user: Callable[..., Any], make_project: Callable[..., Any], add_member: Any
) -> Studio:
    users = {
        "owner": make_user("ada"),
        "editor": make_user("ben"),
        "viewer": make_user("cleo"),
        "outsider": make_user("otto"),
    }
    project = make_project(owner=users["owner"], name="Harbour film")
    add_member(project, users["editor"], Role.EDITOR)
    add_member(project, users["viewer"], Role.VIEWER)
    other = make_project(owner=users["outsider"], name="Someone else's")
    runs = {
        kind: Run.objects.create(project=project, kind=kind, created_by=users["owner"])
        for kind in ("script", "roundtable", "video", "bench")
    }
    world = Studio(project, other, users, runs)
    ada, ben = users["owner"], users["editor"]
    script, table, video = (str(runs[k].pk) for k in ("script", "roundtable", "video"))
    world.record(user=ada, run_id=script, cost=Decimal("0.12345678"), created_at=at(3, 9))
    world.record(user=ada, run_id=script, cost=Decimal("0.00000001"), created_at=at(3, 23, 59, 59))
    world.record(
        user=ben,
        run_id=table,
        part="director",
        provider="anthropic",
        model="claude-sonnet-4",
        cost=Decimal("1.50000000"),
        created_at=at(10),
    )
    world.record(
        user=ben,
        run_id=table,
        part="synthesis",
        cost=Decimal("0.33333333"),
        outcome="failed",
        created_at=at(10, 13),
    )
    world.record(
        user=ada,
        run_id=video,
        provider="runway",
        model="gen4_turbo",
        unit="second",
        quantity=Decimal("5"),
        cost=Decimal("2.50000000"),
        created_at=at(30, 23, 59, 59),
    )
    # A call of no run (the command line) by no one, free, on the first second of the month.
    world.record(
        user=None, run_id="cli", provider="ollama", model="", cost=Decimal(0), created_at=at(1, 0)
    )
    world.record(user=ada, run_id=str(runs["bench"].pk), cost=Decimal("0.01"), created_at=at(15))
    # Outside April, and another project's: never counted.
    world.record(
        user=ada,
        run_id=script,
        cost=Decimal("7"),
        created_at=at(1, 0) - datetime.timedelta(seconds=1),
    )
    world.record(
        user=ada,
        run_id=script,
        cost=Decimal("7"),
        created_at=datetime.datetime(2025, 5, 1, tzinfo=datetime.UTC),
    )
    world.record(project=other, user=users["outsider"], cost=Decimal("9"), created_at=at(12))
    return world


APRIL_TOTAL = Decimal("4.46679012")


def _april() -> Any:
    return period_parse(APRIL, NOW)


def _by(summary: Any, dimension: str) -> dict[str, tuple[Decimal, int]]:
    return {line.key: (line.amount, line.calls) for line in summary.breakdowns[dimension].lines}


def test_figures_by_each_dimension(studio: Studio) -> None:
    summary = spend_summary(studio.project, _april(), list(Dimension))
    assert summary.total == APRIL_TOTAL
    assert summary.calls == 7

    days = summary.breakdowns[Dimension.DAY].lines
    assert [line.day for line in days] == [datetime.date(2025, 4, d) for d in range(1, 31)]
    by_day = _by(summary, Dimension.DAY)
    assert by_day["2025-04-01"] == (Decimal(0), 1)
    assert by_day["2025-04-03"] == (Decimal("0.12345679"), 2)
    assert by_day["2025-04-10"] == (Decimal("1.83333333"), 2)
    assert by_day["2025-04-30"] == (Decimal("2.5"), 1)
    assert by_day["2025-04-02"] == (Decimal(0), 0)
    assert sum(amount for amount, _ in by_day.values()) == APRIL_TOTAL

    assert _by(summary, Dimension.PRODUCT) == {
        "videos": (Decimal("2.5"), 1),
        "roundtables": (Decimal("1.83333333"), 2),
        "scripts": (Decimal("0.12345679"), 2),
        "other": (Decimal("0.01"), 2),
    }
    assert [line.label for line in summary.breakdowns[Dimension.PRODUCT].lines] == [
        "Videos",
        "Roundtables",
        "Scripts",
        "Other",
    ]
    assert _by(summary, Dimension.PROVIDER) == {
        "runway": (Decimal("2.5"), 1),
        "anthropic": (Decimal("1.5"), 1),
        "openai": (Decimal("0.46679012"), 4),
        "ollama": (Decimal(0), 1),
    }
    models = {line.label: line.amount for line in summary.breakdowns[Dimension.MODEL].lines}
    assert models == {
        "gen4_turbo (runway)": Decimal("2.5"),
        "claude-sonnet-4 (anthropic)": Decimal("1.5"),
        "gpt-4o-mini (openai)": Decimal("0.46679012"),
        "no model (ollama)": Decimal(0),
    }
    people = {line.label: (line.amount, line.calls) for line in summary.breakdowns["user"].lines}
    assert people == {
        "ada": (Decimal("2.63345679"), 4),
        "ben": (Decimal("1.83333333"), 2),
        "no one": (Decimal(0), 1),
    }
    shares = [line.share for line in summary.breakdowns[Dimension.PRODUCT].lines]
    assert shares == [Decimal("56.0"), Decimal("41.0"), Decimal("2.8"), Decimal("0.2")]


def test_filters_narrow_every_figure(studio: Studio) -> None:
    ben = studio.users["editor"]
    summary = spend_summary(
        studio.project,
        _april(),
        [Dimension.PROVIDER, Dimension.DAY],
        {Dimension.USER: str(ben.pk), Dimension.PRODUCT: "roundtables"},
    )
    assert summary.total == Decimal("1.83333333")
    assert _by(summary, Dimension.PROVIDER) == {
        "anthropic": (Decimal("1.5"), 1),
        "openai": (Decimal("0.33333333"), 1),
    }
    assert summary.filters == {
        "user": (str(ben.pk), "ben"),
        "product": ("roundtables", "Roundtables"),
    }
    nobody = spend_summary(studio.project, _april(), [], {Dimension.USER: NONE, "model": NONE})
    assert (nobody.total, nobody.calls) == (Decimal(0), 1)


def test_periods() -> None:
    mtd = period_parse("mtd", NOW)
    assert (mtd.start, mtd.end) == (
        datetime.datetime(2025, 5, 1, tzinfo=datetime.UTC),
        datetime.datetime(2025, 5, 21, tzinfo=datetime.UTC),
    )
    assert mtd.label == "May 2025 to date"
    last = period_parse("30d", NOW)
    assert len(last.days) == 30 and last.last_day == datetime.date(2025, 5, 20)
    assert last.first_day == datetime.date(2025, 4, 21)
    december = period_parse("2024-12", NOW)
    assert (december.start, december.end) == (
        datetime.datetime(2024, 12, 1, tzinfo=datetime.UTC),
        datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
    )
    assert period_parse("2025-05", NOW).key == "mtd"
    for bad in ("2025-06", "2025-13", "april", "1999-01"):
        with pytest.raises(ValueError):
            period_parse(bad, NOW)
    choices = period_choices(NOW, datetime.datetime(2023, 2, 3, tzinfo=datetime.UTC))
    assert choices[:3] == [
        ("mtd", "May 2025 to date"),
        ("30d", "Last 30 days"),
        ("2025-04", "April 2025"),
    ]
    assert choices[-1] == ("2023-02", "February 2023")
    assert len(period_choices(NOW)) == 14


# Pages -------------------------------------------------------------------------------------


def client(user: Any) -> Client:
    web = Client()
    if user is not None:
        web.force_login(user)
    return web


def _url(studio: Studio, suffix: str = "", **query: str) -> str:
    base = f"/projects/{studio.project.pk}/spend/{suffix}"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _bars(html: str, dimension: str) -> int:
    match = re.search(rf'<svg[^>]*data-testid="spend-chart-{dimension}".*?</svg>', html, flags=re.S)
    assert match, dimension
    return match.group(0).count('class="spend-bar"')


def _rows(html: str, dimension: str) -> int:
    match = re.search(
        rf'<table[^>]*data-testid="spend-table-{dimension}".*?<tbody>(.*?)</tbody>',
        html,
        flags=re.S,
    )
    assert match, dimension
    return match.group(1).count("<tr")


def test_owner_sees_the_detail_with_a_chart_and_table_of_each(studio: Studio) -> None:
    response = client(studio.users["owner"]).get(_url(studio, period=APRIL))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="spend-total">$4.47<' in html
    assert 'data-testid="spend-calls">7<' in html
    for dimension, count in (
        ("day", 30),
        ("product", 4),
        ("provider", 4),
        ("model", 4),
        ("user", 3),
    ):
        assert _bars(html, dimension) == count == _rows(html, dimension), dimension
    assert re.search(
        r'<svg class="spend-chart spend-columns" role="img"[^>]*'
        r'aria-labelledby="spend-chart-day-title"',
        html,
    )
    assert '<title id="spend-chart-day-title">Spend by day, April 2025</title>' in html
    assert '<title id="spend-chart-provider-title">Spend by provider, April 2025</title>' in html
    assert "style=" not in html
    assert 'data-testid="spend-csv"' in html
    assert "$2.50" in html and "$1.83" in html and ">ada<" in html and ">ben<" in html
    assert (
        f'href="/projects/{studio.project.pk}/spend/?period={APRIL}&amp;provider=anthropic"' in html
    )


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_members_see_totals_only(studio: Studio, role: str) -> None:
    response = client(studio.users[role]).get(_url(studio, period=APRIL, provider="anthropic"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="spend-total">$4.47<' in html
    assert _bars(html, "day") == 30 == _rows(html, "day")
    for dimension in ("product", "provider", "model", "user"):
        assert f'data-testid="spend-chart-{dimension}"' not in html
    assert "spend-csv" not in html and "ledger.csv" not in html
    main = html.split('id="main"')[1]
    assert ">ada<" not in main and ">ben<" not in main
    assert 'data-testid="spend-owners-only"' in html


def test_outsiders_and_anonymous_get_nothing(studio: Studio) -> None:
    outsider = client(studio.users["outsider"])
    assert outsider.get(_url(studio)).status_code == 404
    assert outsider.get(_url(studio, "ledger.csv")).status_code == 404
    assert outsider.get(f"/projects/{studio.other.pk}/spend/").status_code == 200
    anonymous = client(None).get(_url(studio))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert client(studio.users["viewer"]).get(_url(studio, "ledger.csv")).status_code == 403


def test_owner_narrows_the_view_and_clears_it(studio: Studio) -> None:
    html = (
        client(studio.users["owner"])
        .get(_url(studio, period=APRIL, provider="openai"))
        .content.decode()
    )
    assert 'data-testid="spend-total">$0.467<' in html
    assert 'data-testid="spend-filters"' in html
    assert f'href="/projects/{studio.project.pk}/spend/?period={APRIL}"' in html
    assert (
        f'href="/projects/{studio.project.pk}/spend/ledger.csv?period={APRIL}&amp;provider=openai"'
        in html
    )
    assert '<input type="hidden" name="provider" value="openai">' in html


def test_a_bad_period_or_filter_is_refused(studio: Studio) -> None:
    owner = client(studio.users["owner"])
    response = owner.get(_url(studio, period="2031-01"))
    assert response.status_code == 400
    assert "has not begun" in response.content.decode()
    assert owner.get(_url(studio, "ledger.csv", period="nope")).status_code == 400
    assert owner.get(_url(studio, "ledger.csv", user="abc")).status_code == 400
    assert owner.get(_url(studio, "ledger.csv", product="films")).status_code == 400


def test_the_default_period_is_this_month_to_date(studio: Studio) -> None:
    studio.record(user=studio.users["owner"], cost=Decimal("0.25"), created_at=timezone.now())
    html = client(studio.users["viewer"]).get(_url(studio)).content.decode()
    assert 'data-testid="spend-total">$0.25<' in html
    today = timezone.now().date()
    assert _bars(html, "day") == today.day == _rows(html, "day")
    assert f"{today:%B %Y} to date" in html


# The ledger as CSV --------------------------------------------------------------------------


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_csv_matches_the_ledger_to_the_cent(studio: Studio) -> None:
    owner = client(studio.users["owner"])
    rows = _csv(owner.get(_url(studio, "ledger.csv", period=APRIL)))
    assert len(rows) == 7
    assert all(re.fullmatch(r"\d+\.\d{8}", row["cost_usd"]) for row in rows)
    ledger = ledger_total(
        CostRecord.objects.filter(
            project=studio.project,
            created_at__gte=at(1, 0),
            created_at__lt=at(30, 0) + datetime.timedelta(days=1),
        )
    )
    assert sum(Decimal(row["cost_usd"]) for row in rows) == ledger == APRIL_TOTAL
    stored = {r.pk: r.cost for r in CostRecord.objects.filter(project=studio.project)}
    assert all(Decimal(row["cost_usd"]) == stored[int(row["id"])] for row in rows)
    assert [row["created_at_utc"] for row in rows] == sorted(row["created_at_utc"] for row in rows)
    video = next(row for row in rows if row["provider"] == "runway")
    assert (video["product"], video["unit"], video["quantity"], video["user"]) == (
        "Videos",
        "second",
        "5.000000",
        "ada",
    )
    assert {row["product"] for row in rows} == {"Scripts", "Roundtables", "Videos", "Other"}

    # A narrowed view's rows sum to the figure the page shows for it.
    for product, figure in (("scripts", "0.12345679"), ("roundtables", "1.83333333")):
        narrowed = _csv(owner.get(_url(studio, "ledger.csv", period=APRIL, product=product)))
        assert sum(Decimal(row["cost_usd"]) for row in narrowed) == Decimal(figure)
    ben = _csv(
        owner.get(_url(studio, "ledger.csv", period=APRIL, user=str(studio.users["editor"].pk)))
    )
    assert {row["user"] for row in ben} == {"ben"} and len(ben) == 2


def test_csv_cells_never_run_as_formulas(studio: Studio, make_user: Callable[..., Any]) -> None:
    sly = make_user("+cmd|' /C calc'!A0")
    studio.project.name = "@SUM(1+1)"
    studio.project.save()
    studio.record(
        user=sly,
        model='=HYPERLINK("http://evil.example","x")',
        cost=Decimal("0.5"),
        created_at=at(20),
    )
    studio.record(
        user=sly,
        model="-2+3",
        part="\tmain",
        error_kind=" =1",
        cost=Decimal("0.1"),
        created_at=at(21),
    )
    rows = _csv(client(studio.users["owner"]).get(_url(studio, "ledger.csv", period=APRIL)))
    mine = [row for row in rows if row["user"].startswith("'+cmd")]
    assert [row["model"] for row in mine] == ['\'=HYPERLINK("http://evil.example","x")', "'-2+3"]
    assert mine[1]["part"] == "'\tmain" and mine[1]["error_kind"] == "' =1"
    assert all(row["project"] == "'@SUM(1+1)" for row in rows)
    assert sum(Decimal(row["cost_usd"]) for row in rows) == APRIL_TOTAL + Decimal("0.6")
    assert cell_text("gpt-4o") == "gpt-4o" and cell_text("") == ""


# The project page's card --------------------------------------------------------------------


def test_project_page_shows_month_to_date_and_budget_left(studio: Studio) -> None:
    now = timezone.now()
    studio.record(user=studio.users["owner"], cost=Decimal("2.5"), created_at=now)
    studio.record(project=studio.other, cost=Decimal("50"), created_at=now)
    Budget.objects.create(
        scope="project", project=studio.project, period="month", limit_usd=Decimal("10")
    )
    Budget.objects.create(
        scope="project",
        project=studio.project,
        period="day",
        provider="openai",
        limit_usd=Decimal("1"),
    )
    Budget.objects.create(
        scope="project", project=studio.other, period="month", limit_usd=Decimal("3")
    )
    Budget.objects.create(scope="global", period="month", limit_usd=Decimal("1000"))
    html = client(studio.users["viewer"]).get(f"/projects/{studio.project.pk}/").content.decode()
    card = html.split('<section id="project-spend"')[1].split("</section>")[0]
    assert 'data-testid="spend-mtd">$2.50<' in card
    assert "Monthly budget" in card and 'data-testid="budget-left">$7.50<' in card
    assert "Daily budget, openai only" in card and "Over by $1.50" in card
    assert card.count('data-testid="budget"') == 2
    assert f'href="/projects/{studio.project.pk}/spend/"' in card

    from generation.costs.budgets import budget_reserve

    budget_reserve(
        user_id=None, project_id=studio.project.pk, provider="anthropic", amount=Decimal("1.25")
    )
    html = client(studio.users["viewer"]).get(f"/projects/{studio.project.pk}/").content.decode()
    card = html.split('<section id="project-spend"')[1].split("</section>")[0]
    assert 'data-testid="budget-left">$6.25<' in card  # a call under way holds its bound
    assert "$1.25 held by calls under way" in card


def test_project_page_without_budget_or_spend(make_project: Callable[..., Any]) -> None:
    project = make_project()
    owner = project.memberships.get().user
    html = client(owner).get(f"/projects/{project.pk}/").content.decode()
    card = html.split('<section id="project-spend"')[1].split("</section>")[0]
    assert 'data-testid="spend-mtd">$0.00<' in card and "No budget is set" in card


# Staff, across projects ---------------------------------------------------------------------


def test_admin_spend_across_projects(studio: Studio, make_user: Callable[..., Any]) -> None:
    staff = client(make_user("sam", is_staff=True, is_superuser=True))
    changelist = staff.get("/admin/costs/costrecord/").content.decode()
    assert 'href="/admin/spend/"' in changelist
    response = staff.get(f"/admin/spend/?period={APRIL}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="spend-total">$13.47<' in html
    for dimension, count in (("day", 30), ("project", 2), ("product", 4), ("provider", 4)):
        assert _bars(html, dimension) == count == _rows(html, dimension), dimension
    assert "Harbour film" in html and "Someone else" in html
    narrowed = staff.get(f"/admin/spend/?period={APRIL}&project={studio.other.pk}").content.decode()
    assert 'data-testid="spend-total">$9.00<' in narrowed

    rows = _csv(staff.get(f"/admin/spend/ledger.csv?period={APRIL}"))
    assert len(rows) == 8
    assert sum(Decimal(row["cost_usd"]) for row in rows) == APRIL_TOTAL + 9
    assert {row["project"] for row in rows} == {"Harbour film", "Someone else's"}


def test_admin_spend_needs_staff_who_may_view_the_ledger(
    studio: Studio, make_user: Callable[..., Any]
) -> None:
    owner = client(studio.users["owner"])
    response = owner.get("/admin/spend/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    staff_user = make_user("stan", is_staff=True)
    staff = client(staff_user)
    assert staff.get("/admin/spend/").status_code == 403
    assert staff.get("/admin/spend/ledger.csv").status_code == 403
    staff_user.user_permissions.add(Permission.objects.get(codename="view_costrecord"))
    assert client(staff_user).get("/admin/spend/").status_code == 200


def test_records_of_unknown_or_gone_runs_are_other(studio: Studio) -> None:
    studio.record(user=None, run_id=str(uuid.uuid4()), cost=Decimal("0.2"), created_at=at(5))
    summary = spend_summary(studio.project, _april(), [Dimension.PRODUCT])
    assert _by(summary, Dimension.PRODUCT)["other"] == (Decimal("0.21"), 3)
