"""Spending budgets: what they count, when they refuse a call, how the fallback layer skips a
provider before dispatching it, and the admin's view of them. Real database; the paid provider
is the OpenAI adapter talking to a loopback fake of its API."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from generation.chain.fallback import (
    AttemptStarted,
    Ledger,
    budget_hold,
    stream_with_fallback,
)
from generation.costs.budgets import (
    BudgetExceeded,
    budget_check,
    budget_check_call,
    budget_spent,
    call_expected_cost,
    period_bounds,
)
from generation.costs.models import Budget, CostRecord
from generation.providers.base import CompletionRequest, ErrorKind, ProviderError, TextDelta
from generation.providers.openai import OpenAIProvider
from generation.providers.rulebased import RuleBasedProvider
from tests.fakes.providers import FakeProviderServer, openai_stream

# 18 estimated input tokens ("Be brief." 3 + 4, the prompt 7 + 4) and 100 output tokens at
# gpt-4o-mini's 0.00015 / 0.0006 USD per 1K: (18 * 0.00015 + 100 * 0.0006) / 1000.
PROMPT = CompletionRequest.from_prompt(
    "Write a hook about coffee.", system="Be brief.", max_tokens=100
)
PROMPT_COST = Decimal("0.0000627")
PROMPT_CALL: dict[str, Any] = {"input_tokens": 18, "max_output_tokens": 100}
# What the fake's reply costs: 9 input and 2 output tokens reported.
REPLY_COST = Decimal("0.00000255")

NOW = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)
TODAY = datetime.datetime(2026, 3, 15, 0, 0, tzinfo=datetime.UTC)

transactional = pytest.mark.django_db(transaction=True)

# The sums are SQL: tests/test_services.py runs these again on PostgreSQL.
pytestmark = pytest.mark.integration


def spend(
    amount: str,
    *,
    provider: str = "openai",
    user: Any = None,
    project: Any = None,
    at: datetime.datetime = NOW,
) -> CostRecord:
    return CostRecord.objects.create(
        provider=provider,
        model="gpt-4o-mini",
        cost=Decimal(amount),
        outcome=CostRecord.Outcome.SUCCEEDED,
        user=user,
        project=project,
        created_at=at,
    )


def budget(limit: str, **fields: Any) -> Budget:
    fields.setdefault("period", Budget.Period.DAY)
    if "project" in fields:
        fields.setdefault("scope", Budget.Scope.PROJECT)
    elif "user" in fields:
        fields.setdefault("scope", Budget.Scope.USER)
    made = Budget(limit_usd=Decimal(limit), **fields)
    made.full_clean()
    made.save()
    return made


def refused(**call: Any) -> BudgetExceeded | None:
    call.setdefault("user_id", None)
    call.setdefault("project_id", None)
    call.setdefault("provider", "openai")
    call.setdefault("now", NOW)
    try:
        budget_check(**call)
    except BudgetExceeded as exc:
        return exc
    return None


# What a budget counts ------------------------------------------------------------------------


@pytest.mark.django_db
def test_project_budget_counts_its_project_only(make_project):
    launch, other = make_project(name="Launch film"), make_project(name="Other")
    daily = budget("0.50", project=launch, name="Launch film daily")
    spend("0.30", project=launch)
    spend("0.15", project=launch, provider="anthropic")
    spend("5.00", project=other)
    spend("5.00")
    assert budget_spent(daily, NOW) == Decimal("0.45")

    assert refused(project_id=launch.pk, expected_cost=Decimal("0.05")) is None
    exc = refused(project_id=launch.pk, expected_cost=Decimal("0.06"))
    assert exc is not None
    assert not isinstance(exc, ProviderError)  # the chain turns it into one (see below)
    assert exc.provider == "openai"
    assert exc.budget == daily
    assert (exc.spent, exc.expected_cost) == (Decimal("0.45"), Decimal("0.06"))
    assert (
        exc.message
        == str(exc)
        == (
            "budget “Launch film daily” would be exceeded: 0.45 USD spent today "
            "(UTC) of its 0.50 USD limit (0.05 USD left), and this openai call may cost up "
            "to 0.06 USD"
        )
    )
    assert refused(project_id=other.pk, expected_cost=Decimal("1")) is None


@pytest.mark.django_db
def test_user_budget_counts_the_user_across_projects(make_user, make_project):
    ada, bob = make_user("ada"), make_user("bob")
    first, second = make_project(ada), make_project(ada, name="Second")
    monthly = budget("1.00", user=ada, period=Budget.Period.MONTH)
    spend("0.40", user=ada, project=first)
    spend("0.40", user=ada, project=second)
    spend("3.00", user=bob, project=first)
    assert budget_spent(monthly, NOW) == Decimal("0.80")
    exc = refused(user_id=ada.pk, project_id=first.pk, expected_cost=Decimal("0.21"))
    assert exc is not None
    assert "budget “user “ada”, per UTC month” would be exceeded" in exc.message
    assert "0.80 USD spent this month (UTC) of its 1.00 USD limit" in exc.message
    assert refused(user_id=ada.pk, expected_cost=Decimal("0.20")) is None
    assert refused(user_id=bob.pk, project_id=first.pk, expected_cost=Decimal("5")) is None


@pytest.mark.django_db
def test_global_budget_counts_every_call(make_user, make_project):
    ada = make_user()
    budget("1", scope=Budget.Scope.GLOBAL, period=Budget.Period.TOTAL, name="Studio")
    spend("0.25", user=ada, project=make_project(ada))
    spend("0.25", provider="gemini")
    spend("0.25", provider="rulebased", at=NOW - datetime.timedelta(days=400))
    assert refused(expected_cost=Decimal("0.25")) is None
    exc = refused(user_id=ada.pk, provider="anthropic", expected_cost=Decimal("0.26"))
    assert exc is not None
    assert exc.message.startswith("budget “Studio” would be exceeded: 0.75 USD spent in total")


@pytest.mark.django_db
def test_day_and_month_are_utc_calendar_periods(make_project):
    project = make_project()
    day = budget("1", project=project, period=Budget.Period.DAY)
    month = budget("1", project=project, period=Budget.Period.MONTH)
    total = budget("1", project=project, period=Budget.Period.TOTAL)
    spend("0.01", project=project, at=TODAY)  # the first instant of the day counts
    spend("0.02", project=project, at=NOW)
    spend("0.04", project=project, at=TODAY - datetime.timedelta(microseconds=1))
    spend("0.08", project=project, at=datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC))
    spend("0.16", project=project, at=datetime.datetime(2026, 2, 28, 23, 59, tzinfo=datetime.UTC))
    spend("0.32", project=project, at=datetime.datetime(2026, 3, 16, tzinfo=datetime.UTC))
    assert budget_spent(day, NOW) == Decimal("0.03")
    assert budget_spent(month, NOW) == Decimal("0.47")
    assert budget_spent(total, NOW) == Decimal("0.63")
    # A time given in another zone is placed in its UTC day: 01:30 at UTC+3 is the 14th.
    east = datetime.timezone(datetime.timedelta(hours=3))
    assert budget_spent(day, datetime.datetime(2026, 3, 15, 1, 30, tzinfo=east)) == Decimal("0.04")
    assert period_bounds("month", datetime.datetime(2026, 12, 31, 23, 0, tzinfo=datetime.UTC)) == (
        datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
        datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
    )
    assert period_bounds("total", NOW) == (None, None)

    only_day = budget("0.05", project=project, period=Budget.Period.DAY, name="tight day")
    exc = refused(project_id=project.pk, expected_cost=Decimal("0.03"))
    assert exc is not None
    assert exc.budget == only_day
    only_day.period = Budget.Period.MONTH
    only_day.limit_usd = Decimal("0.50")
    only_day.save()
    exc = refused(project_id=project.pk, expected_cost=Decimal("0.04"))
    assert exc is not None
    assert "0.47 USD spent this month (UTC) of its 0.50 USD limit" in exc.message


@pytest.mark.django_db
def test_provider_filter_counts_and_limits_that_provider_only(make_project):
    project = make_project()
    budget("0.10", project=project, provider="openai")
    spend("0.09", project=project, provider="openai")
    spend("9.00", project=project, provider="anthropic")
    assert refused(project_id=project.pk, expected_cost=Decimal("0.01")) is None
    assert refused(project_id=project.pk, expected_cost=Decimal("0.02")) is not None
    assert (
        refused(project_id=project.pk, provider="anthropic", expected_cost=Decimal("100")) is None
    )


@pytest.mark.django_db
def test_inactive_budgets_are_ignored(make_project):
    project = make_project()
    stopped = budget("0", project=project, active=False)
    spend("1", project=project)
    assert refused(project_id=project.pk, expected_cost=Decimal("1")) is None
    stopped.active = True
    stopped.save()
    assert refused(project_id=project.pk, expected_cost=Decimal("1")) is not None


@pytest.mark.django_db
def test_decimal_arithmetic_is_exact_at_the_limit(make_project):
    project = make_project()
    budget("0.30000001", project=project)
    for amount in ("0.1", "0.2", "0.00000001"):
        spend(amount, project=project)  # 0.1 + 0.2 is 0.30000000000000004 in floats
    assert budget_spent(Budget.objects.get(), NOW) == Decimal("0.30000001")
    assert refused(project_id=project.pk, expected_cost=Decimal(0)) is None
    for _ in range(3):
        spend("0.33333333", project=project, at=TODAY)
    spent = budget_spent(Budget.objects.get(), NOW)
    assert spent == Decimal("1.30000000")
    assert isinstance(spent, Decimal)

    Budget.objects.update(limit_usd=Decimal("1.30000001"))
    assert refused(project_id=project.pk, expected_cost=Decimal("0.00000001")) is None
    exc = refused(project_id=project.pk, expected_cost=Decimal("0.00000002"))
    assert exc is not None
    assert "1.30 USD spent today (UTC) of its 1.30000001 USD limit" in exc.message
    assert "may cost up to 0.00000002 USD" in exc.message


@pytest.mark.django_db
def test_large_sums_stay_exact():
    total = budget("1", scope=Budget.Scope.GLOBAL, period=Budget.Period.TOTAL)
    CostRecord.objects.bulk_create(
        CostRecord(provider="openai", cost=Decimal("999999.99999999"), outcome="succeeded")
        for _ in range(11)
    )
    # SQLite keeps these as floats; their plain SUM comes back with 15 significant digits.
    assert budget_spent(total) == Decimal("10999999.99999989")


@pytest.mark.django_db
def test_a_free_call_is_never_refused(make_project):
    project = make_project()
    budget("0.10", scope=Budget.Scope.GLOBAL)
    spend("0.25", project=project)  # overshot by calls checked at the same time
    assert refused(project_id=project.pk, provider="rulebased", expected_cost=Decimal(0)) is None
    assert budget_check_call(
        user_id=None, project_id=project.pk, provider="rulebased", model="", **PROMPT_CALL
    ) == Decimal(0)
    assert refused(project_id=project.pk, expected_cost=Decimal("0.00000001")) is not None


@pytest.mark.django_db
def test_expected_cost_of_a_call_counts_all_its_output_tokens():
    assert call_expected_cost("openai", "gpt-4o-mini", 18, 100) == PROMPT_COST
    assert call_expected_cost("openai", "gpt-4o-mini", -5, -1) == 0  # nothing below zero
    assert call_expected_cost("ollama", "llama3.2", 18, 100) == 0


@pytest.mark.django_db
def test_an_unpriced_model_is_refused_while_a_budget_covers_it():
    call: dict[str, Any] = {"user_id": None, "project_id": None, "provider": "nobody", "model": "m"}
    assert budget_check_call(**call, **PROMPT_CALL) == Decimal(0)
    budget("100", scope=Budget.Scope.GLOBAL, name="Studio")
    with pytest.raises(BudgetExceeded, match="“Studio” cannot be kept: nobody/m has no price"):
        budget_check_call(**call, **PROMPT_CALL)


@pytest.mark.django_db
def test_scope_must_match_project_and_user(make_user, make_project):
    ada, project = make_user(), make_project()
    cases = [
        ({"scope": "project"}, {"project"}),
        ({"scope": "project", "project": project, "user": ada}, {"user"}),
        ({"scope": "user"}, {"user"}),
        ({"scope": "user", "user": ada, "project": project}, {"project"}),
        ({"scope": "global", "project": project}, {"project"}),
        ({"scope": "global", "user": ada}, {"user"}),
    ]
    for fields, wrong in cases:
        with pytest.raises(ValidationError) as info:
            Budget(limit_usd=Decimal(1), **fields).full_clean()
        assert set(info.value.message_dict) == wrong, fields
    with pytest.raises(ValidationError) as info:
        Budget(scope="global", limit_usd=Decimal("-1")).full_clean()
    assert set(info.value.message_dict) == {"limit_usd"}
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(scope="project", limit_usd=Decimal(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(scope="global", user=ada, limit_usd=Decimal(1))


# The admin ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_lists_spent_and_remaining_to_staff_only(make_user, make_project):
    launch = make_project(name="Launch film")
    budget("0.50", project=launch, name="Launch film daily")
    budget("0.10", scope=Budget.Scope.GLOBAL, provider="openai", name="Cloud cap")
    budget("2", scope=Budget.Scope.GLOBAL, period=Budget.Period.TOTAL, active=False, name="Old")
    spend("0.40", project=launch, at=datetime.datetime.now(datetime.UTC))
    spend("0.05", project=launch, provider="anthropic", at=datetime.datetime.now(datetime.UTC))

    web = Client()
    web.force_login(make_user(is_staff=True, is_superuser=True))
    page = web.get("/admin/costs/budget/").content.decode()
    assert "Spent this period (USD)" in page
    assert "Remaining (USD)" in page
    assert row_of(page, "Launch film daily") == ["0.50", "0.45", "0.05"]
    assert row_of(page, "Cloud cap") == ["0.10", "0.40", "0.00 (over by 0.30)"]
    assert row_of(page, "Old") == ["2.00", "0.45", "1.55"]

    filtered = web.get("/admin/costs/budget/?scope__exact=project").content.decode()
    assert "Launch film daily" in filtered
    assert "Cloud cap" not in filtered
    searched = web.get("/admin/costs/budget/?q=launch").content.decode()
    assert "Launch film daily" in searched
    assert "Cloud cap" not in searched
    inactive = web.get("/admin/costs/budget/?active__exact=0").content.decode()
    assert ">Old</a>" in inactive
    assert "Launch film daily" not in inactive

    response = web.post(
        "/admin/costs/budget/add/",
        {"scope": "project", "period": "day", "limit_usd": "1", "provider": "nobody"},
    )
    assert response.status_code == 200
    form_errors = response.context["adminform"].form.errors
    assert form_errors["project"] == ["A project budget needs its project."]
    assert "Unknown provider 'nobody'" in form_errors["provider"][0]
    assert Budget.objects.count() == 3

    member = Client()
    member.force_login(make_user())
    assert member.get("/admin/costs/budget/").status_code == 302
    staff_without_permission = Client()
    staff_without_permission.force_login(make_user(is_staff=True))
    assert staff_without_permission.get("/admin/costs/budget/").status_code == 403


def row_of(page: str, name: str) -> list[str]:
    """The limit, spent and remaining cells of the changelist row that names ``name``."""
    import re

    for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S):
        if f">{name}</a>" in row:
            cells = re.findall(
                r'<td class="field-(limit_shown|spent|remaining)">(.*?)</td>', row, flags=re.S
            )
            return [value for _field, value in cells]
    raise AssertionError(f"no row for {name!r}")


# Before dispatch, in the fallback layer --------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as http:
        yield http


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def providers(fake: FakeProviderServer, client: httpx.AsyncClient) -> dict[str, Any]:
    return {
        "openai": OpenAIProvider(
            "openai",
            {"api_key": "sk-x", "base_url": fake.url("/v1"), "model": "gpt-4o-mini"},
            client=client,
        ),
        "rulebased": RuleBasedProvider("rulebased", {"pace_ms": 0}),
    }


async def run(stream: Any) -> tuple[list[Any], ProviderError | None]:
    events: list[Any] = []
    try:
        async with stream:
            async for event in stream:
                events.append(event)
    except ProviderError as exc:
        return events, exc
    return events, None


@transactional
async def test_the_chain_sees_a_refusal_as_a_quota_error(make_project):
    project = await asyncio.to_thread(make_project, name="Launch film")
    await asyncio.to_thread(budget, "0.00005", project=project, name="Launch film daily")
    ledger = Ledger(project_id=project.pk, run_id="run-refused")

    hold, error = await budget_hold(ledger, "openai", "gpt-4o-mini", PROMPT)

    assert hold is None
    assert isinstance(error, ProviderError)
    assert not isinstance(error, BudgetExceeded)
    assert (error.kind, error.retryable, error.provider) == (ErrorKind.QUOTA, False, "openai")
    assert str(error) == (
        "openai: quota: budget “Launch film daily” would be exceeded: 0.00 USD spent today "
        "(UTC) of its 0.00005 USD limit (0.00005 USD left), and this openai call may cost up "
        f"to {PROMPT_COST} USD"
    )
    assert await budget_hold(ledger, "ollama", "llama3.2", PROMPT) == (None, None)


@transactional
@pytest.mark.parametrize("scope", ["project", "user", "global"])
async def test_a_budget_skips_the_paid_provider_before_any_request(
    scope, fake, client, make_user, make_project
):
    ada = await asyncio.to_thread(make_user, "ada")
    project = await asyncio.to_thread(make_project, ada, "Launch film")
    fields: dict[str, Any] = {
        "project": {"project": project},  # exhausted: nothing spent, nothing left
        "user": {"user": ada, "provider": "openai"},
        "global": {"scope": Budget.Scope.GLOBAL},  # already overshot
    }[scope]
    limit = {"project": "0", "user": "0.00001", "global": "0.000001"}[scope]
    await asyncio.to_thread(budget, limit, name=f"{scope} cap", **fields)
    if scope == "global":
        await asyncio.to_thread(spend, "0.000002", at=datetime.datetime.now(datetime.UTC))
    fake.push(openai_stream(["never"]))

    stream = stream_with_fallback(
        ["openai", "rulebased"],
        PROMPT,
        providers=providers(fake, client),
        ledger=Ledger(user_id=ada.pk, project_id=project.pk, run_id=f"run-{scope}"),
    )
    events, error = await run(stream)

    assert error is None
    assert fake.requests == []
    assert [type(e).__name__ for e in events[:2]] == ["ProviderSwitch", "AttemptStarted"]
    switch = events[0]
    assert (switch.from_provider, switch.to_provider) == ("openai", "rulebased")
    assert switch.reason.startswith(f"quota: budget “{scope} cap” would be exceeded")
    started = events[1]
    assert isinstance(started, AttemptStarted)
    assert (started.provider, started.number) == ("rulebased", 2)
    assert "".join(e.text for e in events if isinstance(e, TextDelta))
    skipped, answered = stream.attempts
    assert (skipped.provider, skipped.outcome, skipped.error_kind) == ("openai", "skipped", "quota")
    assert f"“{scope} cap”" in skipped.message
    assert f"may cost up to {PROMPT_COST} USD" in skipped.message
    assert answered.outcome == "succeeded"
    assert stream.result is not None
    assert stream.result.provider == "rulebased"
    records = await asyncio.to_thread(
        lambda: list(CostRecord.objects.filter(run_id=f"run-{scope}").values_list("provider"))
    )
    assert records == [("rulebased",)]


@transactional
async def test_a_budget_lets_the_call_that_fits_then_refuses_the_next(
    fake, client, make_user, make_project
):
    ada = await asyncio.to_thread(make_user, "ada")
    project = await asyncio.to_thread(make_project, ada, "Launch film")
    await asyncio.to_thread(budget, str(PROMPT_COST), project=project, name="Launch film daily")
    fake.push(openai_stream(["Hi"], usage=(9, 2)))
    ledger = Ledger(user_id=ada.pk, project_id=project.pk, run_id="run-fits")

    stream = stream_with_fallback(
        ["openai"], PROMPT, providers=providers(fake, client), ledger=ledger
    )
    _events, error = await run(stream)
    assert error is None
    assert len(fake.requests) == 1  # spent 0 + at most 0.0000627 reaches the limit exactly
    assert stream.result is not None
    assert stream.result.cost == REPLY_COST

    stream = stream_with_fallback(
        ["openai"], PROMPT, providers=providers(fake, client), ledger=ledger
    )
    events, error = await run(stream)
    assert events == []
    assert len(fake.requests) == 1
    assert error is not None
    assert error.kind == ErrorKind.QUOTA
    assert error.message == (
        "no provider may be called within the spending budgets: openai: quota: budget "
        f"“Launch film daily” would be exceeded: {REPLY_COST} USD spent today (UTC) of its "
        f"{PROMPT_COST} USD limit ({PROMPT_COST - REPLY_COST} USD left), and this openai call "
        f"may cost up to {PROMPT_COST} USD"
    )
    assert [a.outcome for a in stream.attempts] == ["skipped"]

    unbilled = stream_with_fallback(["openai"], PROMPT, providers=providers(fake, client))
    _events, error = await run(unbilled)
    assert error is None  # no ledger, nobody to charge: no budget applies
    assert len(fake.requests) == 2
    records = await asyncio.to_thread(
        lambda: list(CostRecord.objects.filter(run_id="run-fits").values_list("cost", flat=True))
    )
    assert records == [REPLY_COST]
