"""Budget holds: a call's upper bound is reserved before it is dispatched and settled by its
cost record, so concurrent starts never take a budget over its limit; and the alerts at 50, 75,
90 and 100 % of a budget. Real database (again on PostgreSQL through tests/test_services.py);
the paid provider is the OpenAI adapter talking to a loopback fake of its API."""

from __future__ import annotations

import asyncio
import datetime
import threading
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client

from generation.chain.fallback import Ledger, stream_with_fallback
from generation.costs.alerts import alert_text, alerts_check, mail_wait
from generation.costs.budgets import (
    BudgetExceeded,
    budget_check,
    budget_reserve,
    budget_standing,
    holds_purge,
)
from generation.costs.models import Budget, BudgetAlert, BudgetHold, BudgetNotice, CostRecord
from generation.costs.notices import notices_for
from generation.costs.services import cost_record_create, ledger_total
from generation.providers.base import CompletionRequest, ErrorKind, ProviderError
from generation.providers.openai import OpenAIProvider
from tests.fakes.providers import FakeProviderServer, Pause, Reply, openai_events

pytestmark = pytest.mark.integration
transactional = pytest.mark.django_db(transaction=True)

# 18 estimated input tokens and at most 100 output tokens at gpt-4o-mini's 0.00015 / 0.0006 USD
# per 1K: every call's upper bound. The fake reports exactly those counts, so a call's actual
# cost is its bound and the budget's room is spent, not only held.
PROMPT = CompletionRequest.from_prompt(
    "Write a hook about coffee.", system="Be brief.", max_tokens=100
)
BOUND = Decimal("0.0000627")
STARTS = 50
PAID_FOR = 10


def budget(limit: Decimal | str, **fields: Any) -> Budget:
    fields.setdefault("period", Budget.Period.DAY)
    if "project" in fields:
        fields.setdefault("scope", Budget.Scope.PROJECT)
    elif "user" in fields:
        fields.setdefault("scope", Budget.Scope.USER)
    made = Budget(limit_usd=Decimal(limit), **fields)
    made.full_clean()
    made.save()
    return made


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


# Holds -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hold_counts_until_its_cost_record_settles_it(make_project):
    project = make_project()
    daily = budget("1.00", project=project, name="Launch film daily")
    hold = budget_reserve(
        user_id=None,
        project_id=project.pk,
        provider="openai",
        amount=Decimal("0.60"),
        run_id="run-1",
        part="main",
    )
    assert hold is not None
    standing = budget_standing(daily)
    assert (standing.spent, standing.held, standing.left) == (
        Decimal(0),
        Decimal("0.60"),
        Decimal("0.40"),
    )
    with pytest.raises(BudgetExceeded) as refused:
        budget_check(
            user_id=None, project_id=project.pk, provider="openai", expected_cost=Decimal("0.41")
        )
    exc = refused.value
    assert (exc.spent, exc.held, exc.left) == (Decimal(0), Decimal("0.60"), Decimal("0.40"))
    assert exc.message == (
        "budget “Launch film daily” would be exceeded: 0.00 USD spent today (UTC), 0.60 USD "
        "held by calls under way of its 1.00 USD limit (0.40 USD left), and this openai call "
        "may cost up to 0.41 USD"
    )

    cost_record_create(
        provider="openai",
        model="gpt-4o-mini",
        outcome="succeeded",
        cost=Decimal("0.25"),
        project_id=project.pk,
        run_id="run-1",
        part="main",
    )
    assert not BudgetHold.objects.exists()
    standing = budget_standing(daily)
    assert (standing.spent, standing.held, standing.left) == (
        Decimal("0.25"),
        Decimal(0),
        Decimal("0.75"),
    )


@pytest.mark.django_db
def test_reserving_again_for_the_same_attempt_replaces_its_hold(make_project):
    project = make_project()
    daily = budget("1.00", project=project)
    call = {
        "user_id": None,
        "project_id": project.pk,
        "provider": "runway",
        "amount": Decimal("0.60"),
        "run_id": "job-1",
        "part": "attempt-1",
    }
    first = budget_reserve(**call)
    second = budget_reserve(**call)  # the submit step tried again after a crash
    assert first != second
    assert list(BudgetHold.objects.values_list("pk", flat=True)) == [second]
    assert budget_standing(daily).held == Decimal("0.60")


@pytest.mark.django_db
def test_no_hold_without_a_budget_or_for_a_free_call(make_project):
    project = make_project()
    free = {"user_id": None, "project_id": project.pk, "provider": "openai"}
    assert budget_reserve(**free, amount=Decimal("5")) is None  # no budget covers it
    budget("0", project=project)
    assert budget_reserve(**free, amount=Decimal(0)) is None  # free: never refused
    assert not BudgetHold.objects.exists()


@pytest.mark.django_db
def test_an_expired_hold_stops_counting_and_is_purged(make_project):
    project = make_project()
    daily = budget("1.00", project=project)
    now = datetime.datetime.now(datetime.UTC)
    budget_reserve(
        user_id=None,
        project_id=project.pk,
        provider="openai",
        amount=Decimal("0.90"),
        hold_seconds=60,
        now=now - datetime.timedelta(seconds=61),
    )
    kept = budget_reserve(
        user_id=None,
        project_id=project.pk,
        provider="openai",
        amount=Decimal("0.05"),
        run_id="run-ended",
    )
    assert budget_standing(daily).held == Decimal("0.05")
    assert holds_purge() == 1
    assert list(BudgetHold.objects.values_list("pk", flat=True)) == [kept]
    assert holds_purge(run_ids=["run-ended"]) == 1
    assert not BudgetHold.objects.exists()


def _start(project_id: int, index: int, barrier: threading.Barrier, outcomes: list[str]) -> None:
    try:
        barrier.wait()
        try:
            budget_reserve(
                user_id=None,
                project_id=project_id,
                provider="openai",
                amount=BOUND,
                run_id=f"run-{index}",
                part="main",
            )
        except BudgetExceeded:
            outcomes.append("refused")
            return
        cost_record_create(
            provider="openai",
            model="gpt-4o-mini",
            outcome="succeeded",
            cost=BOUND,
            project_id=project_id,
            run_id=f"run-{index}",
            part="main",
        )
        outcomes.append("ran")
    finally:
        connection.close()


@transactional
def test_fifty_concurrent_starts_against_room_for_ten(make_project):
    project = make_project()
    limit = BOUND * PAID_FOR
    daily = budget(limit, project=project)
    barrier = threading.Barrier(STARTS)
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=_start, args=(project.pk, i, barrier, outcomes))
        for i in range(STARTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes).count("ran") == PAID_FOR
    assert outcomes.count("refused") == STARTS - PAID_FOR
    assert ledger_total(CostRecord.objects.filter(project=project)) == limit
    assert not BudgetHold.objects.exists()
    assert budget_standing(daily).left == 0


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=STARTS)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), limits=limits) as http:
        yield http


async def _stream(provider: OpenAIProvider, ledger: Ledger) -> str:
    stream = stream_with_fallback(["openai"], PROMPT, providers={"openai": provider}, ledger=ledger)
    try:
        async with stream:
            async for _event in stream:
                pass
    except ProviderError as exc:
        return exc.kind.value
    return "ran"


@transactional
async def test_fifty_concurrent_runs_through_the_chain_never_overshoot(
    fake, client, make_user, make_project
):
    ada = await asyncio.to_thread(make_user, "ada")
    project = await asyncio.to_thread(make_project, ada, "Launch film")
    limit = BOUND * PAID_FOR
    await asyncio.to_thread(budget, limit, project=project, name="Launch film daily")
    # Each answer takes a moment, so the starts overlap while the first calls are under way.
    steps: list[Any] = [Pause(0.2), *openai_events(["Hi"], usage=(18, 100))]
    fake.push(*[Reply(200, {"content-type": "text/event-stream"}, steps)] * STARTS)
    provider = OpenAIProvider(
        "openai",
        {"api_key": "sk-x", "base_url": fake.url("/v1"), "model": "gpt-4o-mini"},
        client=client,
    )

    outcomes = await asyncio.gather(
        *(
            _stream(provider, Ledger(user_id=ada.pk, project_id=project.pk, run_id=f"run-{i}"))
            for i in range(STARTS)
        )
    )

    assert outcomes.count("ran") == PAID_FOR
    assert outcomes.count(ErrorKind.QUOTA.value) == STARTS - PAID_FOR
    assert len(fake.requests) == PAID_FOR
    spent = await asyncio.to_thread(
        lambda: ledger_total(CostRecord.objects.filter(project=project))
    )
    assert spent == limit
    assert not await asyncio.to_thread(BudgetHold.objects.exists)


# Alerts ------------------------------------------------------------------------------------


def charge(project: Any, amount: str, run_id: str = "") -> CostRecord:
    return cost_record_create(
        provider="openai",
        model="gpt-4o-mini",
        outcome="succeeded",
        cost=Decimal(amount),
        project_id=project.pk,
        run_id=run_id,
    )


@pytest.mark.django_db(transaction=True)
def test_alerts_once_per_threshold_to_the_owners(make_user, make_project, add_member):
    owner = make_user("olga")
    editor = make_user("ed")
    project = make_project(owner)
    add_member(project, editor, "editor")
    daily = budget("1.00", project=project, name="Launch film daily")

    charge(project, "0.40")
    assert not BudgetAlert.objects.exists()
    charge(project, "0.20")  # 60 %
    charge(project, "0.05")  # 65 %: 50 % was already announced
    assert list(BudgetAlert.objects.values_list("threshold", flat=True)) == [50]
    charge(project, "0.30")  # 95 %: 75 and 90 crossed by one call, 90 announced
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 75, 90]
    charge(project, "0.05")  # 100 %
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 75, 90, 100]
    assert alerts_check(daily) is None  # nothing new

    mail_wait()
    notices = list(notices_for(owner))
    assert [n.alert.threshold for n in notices] == [100, 90, 50]
    assert all(n.emailed for n in notices)
    assert not BudgetNotice.objects.filter(user=editor).exists()
    assert [m.to for m in mail.outbox] == [["olga@example.com"]] * 3
    assert mail.outbox[0].subject == "Aura Studio: Budget “Launch film daily” is 50 % spent"
    assert mail.outbox[-1].body == (
        "Budget “Launch film daily” is spent: $1.00 of $1.00 (day "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d}, UTC). Paid calls it covers are "
        "refused until the period ends or staff raise the limit."
    )
    assert alert_text(notices[1].alert).endswith("$0.05 left.")


@pytest.mark.django_db(transaction=True)
def test_a_global_budget_alerts_staff(make_user):
    staff = make_user("sam")
    staff.is_staff = True
    staff.save()
    make_user("una")
    budget("0.10", scope=Budget.Scope.GLOBAL, period=Budget.Period.MONTH, name="Studio")
    cost_record_create(
        provider="openai", model="gpt-4o-mini", outcome="succeeded", cost=Decimal("0.05")
    )
    mail_wait()
    assert [m.to for m in mail.outbox] == [["sam@example.com"]]
    assert [n.user.username for n in BudgetNotice.objects.all()] == ["sam"]


@pytest.mark.django_db(transaction=True)
def test_the_alert_shows_on_the_owners_dashboard_and_can_be_dismissed(
    make_user, make_project, add_member
):
    owner = make_user("olga")
    viewer = make_user("vic")
    project = make_project(owner)
    add_member(project, viewer, "viewer")
    budget("1.00", project=project, name="Launch film daily")
    charge(project, "0.80")

    page = Client()
    page.force_login(owner)
    html = page.get("/").content.decode()
    assert "Budget “Launch film daily” is 75 % spent" in html
    project_page = page.get(f"/projects/{project.pk}/").content.decode()
    assert "is 75 % spent" in project_page
    other = Client()
    other.force_login(viewer)
    assert "is 75 % spent" not in other.get("/").content.decode()
    assert "is 75 % spent" not in other.get(f"/projects/{project.pk}/").content.decode()

    notice = BudgetNotice.objects.get(user=owner)
    assert other.post(f"/notices/{notice.pk}/dismiss/").status_code == 404
    response = page.post(f"/notices/{notice.pk}/dismiss/")
    assert response.status_code == 302
    notice.refresh_from_db()
    assert notice.dismissed_at is not None
    assert "is 75 % spent" not in page.get("/").content.decode()


@pytest.mark.django_db
def test_staff_find_cost_records_by_the_correlation_id_quoted_to_people(make_user):
    staff = make_user("sam", is_staff=True, is_superuser=True)
    cost_record_create(
        provider="openai",
        model="gpt-4o-mini",
        outcome="failed",
        error_kind="server_error",
        run_id="run-9",
        correlation_id="c0ffee1234abcd",
    )
    cost_record_create(provider="openai", model="gpt-4o-mini", outcome="succeeded", run_id="x")
    admin = Client()
    admin.force_login(staff)
    page = admin.get("/admin/costs/costrecord/", {"q": "c0ffee1234abcd"}).content.decode()
    assert "run-9" in page
    assert "1 result" in page


@pytest.mark.django_db
def test_the_admin_is_branded_and_links_a_cost_record_to_its_run(make_user):
    import uuid

    staff = make_user("sam", is_staff=True, is_superuser=True)
    run_id = str(uuid.uuid4())
    cost_record_create(provider="openai", model="gpt-4o-mini", outcome="succeeded", run_id=run_id)
    admin = Client()
    admin.force_login(staff)
    page = admin.get("/admin/costs/costrecord/").content.decode()
    assert "Aura Studio admin" in page
    assert "img/favicon.svg" in page
    assert f'href="/admin/runs/run/{run_id}/change/"' in page
