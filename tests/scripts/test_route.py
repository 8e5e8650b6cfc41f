"""A chosen provider is respected, through the real pipeline against loopback provider fakes: a
provider that is not set up cannot be chosen (form and API), a spent budget shows before Start,
the cost ceiling skips a pricier fallback, every switch names each provider passed over and why,
a rate-limit retry is an event the panel shows, the ``done`` event and the run's page say when
the run did not go as chosen, and a cost at a provider's default price is flagged."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from aura_site.money import format_usd
from generation.costs.models import Budget, CostRecord
from generation.costs.services import cost_record_create
from generation.runs.fragments import render_stored_event
from generation.runs.kinds import spec_for
from generation.runs.models import Run
from generation.scripts.offline import script_writer
from generation.scripts.prompt import brief_build, request_build
from tests.api_client import api_for
from tests.fakes.providers import FakeProviderServer, openai_error, openai_stream
from tests.scripts.conftest import _providers, events_of

pytestmark = pytest.mark.django_db(transaction=True)

TOPIC = "Tides explained"
SCRIPT = script_writer(
    request_build(brief_build(topic=TOPIC, platform="youtube", duration_seconds=60))
).strip()
PIECES = [word + " " for word in SCRIPT.split(" ")]


@pytest.fixture
def fakes(settings: Any) -> Iterator[SimpleNamespace]:
    """OpenAI and Anthropic set up on loopback fakes; Gemini and Azure are not; Ollama is on a
    closed port. The overload refusal is not under test here: a busy shared machine must not
    turn these runs away."""
    settings.AURA_RUN_MAX_LOOP_LAG_MS = 5000
    with FakeProviderServer() as openai, FakeProviderServer() as anthropic:
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": openai.url("/v1"), "model": "gpt-4o-mini"},
            anthropic={
                "api_key": "sk-ant-test",
                "base_url": anthropic.url(),
                "model": "claude-sonnet-4-5",
            },
        )
        yield SimpleNamespace(openai=openai, anthropic=anthropic)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def finished(team: Any, **body: Any) -> tuple[dict[str, Any], list[tuple[str, dict]]]:
    client = await api_for(team.editor)
    response = await client.post(
        "/api/v1/scripts", {"project": team.project.pk, "topic": TOPIC, **body}
    )
    assert response.status_code == 200, response.content
    run = response.json()
    return run, await asyncio.to_thread(events_of, run["id"])


def only(events: list[tuple[str, dict]], name: str) -> list[dict[str, Any]]:
    return [data for event, data in events if event == name]


@pytest.mark.usefixtures("server_loop")
async def test_a_fallback_over_the_cost_ceiling_is_skipped_and_the_switch_names_every_skip(
    fakes: SimpleNamespace, team: Any
) -> None:
    fakes.openai.push(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
    run, events = await finished(team, provider="auto", max_cost_usd="0.0005")

    assert run["status"] == "succeeded" and run["provider"] == "rulebased"
    assert fakes.anthropic.requests == [], "a fallback over the ceiling is never called"
    anthropic = next(a for a in run["attempts"] if a["provider"] == "anthropic")
    assert anthropic["outcome"] == "skipped" and anthropic["error_kind"] == "cost_ceiling"
    assert "over your cost ceiling" in anthropic["message"]

    # Ollama is set up (on a closed port): free, so the ceiling lets it be tried.
    first, second = only(events, "provider_switch")
    assert first["summary"] == (
        "openai: key refused; anthropic: over your cost ceiling; "
        "gemini, azure: not configured → ollama"
    )
    assert [(s["provider"], s["code"]) for s in first["skipped"]] == [
        ("openai", "auth"),
        ("anthropic", "cost_ceiling"),
        ("gemini", "not_configured"),
        ("azure", "not_configured"),
    ]
    assert second["summary"] == "ollama: unreachable → rulebased"
    (done,) = only(events, "done")
    assert done["notice"]["code"] == "template_output"
    assert "template output" in done["notice"]["message"]

    stored = await asyncio.to_thread(Run.objects.get, pk=run["id"])
    assert stored.input["max_cost_usd"] == "0.0005"


@pytest.mark.usefixtures("server_loop")
async def test_without_a_ceiling_the_same_fallback_is_called(
    fakes: SimpleNamespace, team: Any
) -> None:
    from tests.fakes.providers import anthropic_stream

    fakes.openai.push(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
    fakes.anthropic.push(anthropic_stream(PIECES))
    run, events = await finished(team, provider="auto")
    assert run["provider"] == "anthropic", run["attempts"]
    assert len(fakes.anthropic.requests) == 1
    (switch,) = only(events, "provider_switch")
    assert switch["summary"] == "openai: key refused → anthropic"


@pytest.mark.usefixtures("server_loop")
async def test_a_chosen_provider_over_budget_lands_elsewhere_and_done_says_so(
    fakes: SimpleNamespace, team: Any
) -> None:
    def spend() -> None:
        Budget.objects.create(
            name="Pilot",
            scope=Budget.Scope.PROJECT,
            project=team.project,
            period=Budget.Period.MONTH,
            limit_usd=Decimal("0.01"),
        )
        cost_record_create(
            provider="openai",
            model="gpt-4o-mini",
            outcome="succeeded",
            cost=Decimal("0.01"),
            project_id=team.project.pk,
            user_id=team.editor.pk,
        )

    await asyncio.to_thread(spend)
    run, events = await finished(team, provider="openai")

    assert run["provider"] == "rulebased"
    assert fakes.openai.requests == []
    summaries = [switch["summary"] for switch in only(events, "provider_switch")]
    assert summaries == ["openai: budget → ollama", "ollama: unreachable → rulebased"]
    (done,) = only(events, "done")
    notice = done["notice"]
    assert notice["code"] == "provider_changed"
    assert notice["codes"] == ["provider_changed", "template_output"]
    assert notice["message"] == (
        "You chose OpenAI, but OpenAI was over a spending budget, so this is template output "
        "from RuleBased (offline), not a language model's writing."
    )
    assert run["notice"] == notice, "the run object carries the done event's notice"
    viewer_api = await api_for(team.viewer)
    read = await viewer_api.get(f"/api/v1/runs/{run['id']}")
    assert read.status_code == 200 and read.json()["notice"] == notice

    def pages() -> tuple[str, str]:
        viewer = client_for(team.viewer)
        script = Run.objects.get(pk=run["id"]).result["script_id"]
        run_page = viewer.get(f"/runs/{run['id']}/").content.decode()
        script_page = viewer.get(f"/projects/{team.project.pk}/scripts/{script}/")
        return run_page, script_page.content.decode()

    run_page, script_page = await asyncio.to_thread(pages)
    top = run_page.index('data-testid="run-notice"')
    assert top < run_page.index('class="metrics run-metrics"')
    assert top < run_page.index('data-testid="run-text"'), "the notice is at the top of the run"
    assert "You chose OpenAI, but OpenAI was over a spending budget" in run_page
    assert "openai: budget → ollama" in run_page
    notice = script_page.index('data-testid="run-notice"')
    assert notice < script_page.index('data-testid="script-version"')
    assert "You chose OpenAI, but OpenAI was over a spending budget" in script_page


def test_a_spent_budget_shows_on_the_action_bar_before_start(
    fakes: SimpleNamespace, team: Any
) -> None:
    Budget.objects.create(
        name="Pilot",
        scope=Budget.Scope.PROJECT,
        project=team.project,
        period=Budget.Period.MONTH,
        limit_usd=Decimal("0.01"),
    )
    client = client_for(team.editor)
    url = f"/projects/{team.project.pk}/scripts/guidance/"
    form = {"topic": TOPIC, "duration_seconds": "60", "platform": "youtube", "provider": "openai"}
    assert 'data-testid="budget-spent"' not in client.post(url, form).content.decode()

    cost_record_create(
        provider="openai",
        model="gpt-4o-mini",
        outcome="succeeded",
        cost=Decimal("0.01"),
        project_id=team.project.pk,
    )
    html = client.post(url, form).content.decode()
    assert 'data-testid="budget-spent"' in html
    assert "Budget “Pilot” is spent: $0.01 of $0.01 this month (UTC)." in html
    assert "Calls to OpenAI will be skipped; free providers still answer." in html
    # The form asks for this as it opens (before anything is typed), so it shows at once.
    page = client.get(f"/projects/{team.project.pk}/scripts/new/").content.decode()
    asks = r'hx-post="[^"]*/scripts/guidance/"[^>]*hx-trigger="load, brief-changed"'
    assert re.search(asks, page)


@pytest.mark.usefixtures("server_loop")
async def test_a_rate_limit_retry_is_an_event_and_shows_in_the_panel(
    fakes: SimpleNamespace, team: Any
) -> None:
    fakes.openai.push(
        openai_error(429, "Rate limit reached", type="requests", headers={"retry-after-ms": "5"}),
        openai_stream(PIECES, usage=(9, 2)),
    )
    run, events = await finished(team, provider="openai")

    assert run["provider"] == "openai" and run["status"] == "succeeded"
    assert len(fakes.openai.requests) == 2
    (retry,) = only(events, "provider_retry")
    assert retry["provider"] == "openai" and retry["code"] == "rate_limit"
    assert retry["retry"] == 1 and retry["retry_in_seconds"] > 0
    assert retry["summary"] == "OpenAI rate-limited, retrying in 1 s"
    assert only(events, "done")[0]["notice"] is None
    assert run["notice"] is None
    records = await asyncio.to_thread(lambda: list(CostRecord.objects.filter(run_id=run["id"])))
    assert [r.price_assumed for r in records] == [False]

    def page() -> str:
        return client_for(team.viewer).get(f"/runs/{run['id']}/").content.decode()

    html = await asyncio.to_thread(page)
    assert 'data-testid="run-retry"' in html
    assert "OpenAI rate-limited, retrying in 1 s" in html

    def live_fragment() -> tuple[str, str]:
        stored = Run.objects.get(pk=run["id"])
        spec = spec_for("script")
        return stored.dom_id, render_stored_event(stored, spec, "provider_retry", retry, "main")

    run_dom_id, fragment = await asyncio.to_thread(live_fragment)
    assert f'<ul id="{run_dom_id}-switches" hx-swap-oob="beforeend">' in fragment
    assert "OpenAI rate-limited, retrying in 1 s" in fragment


@pytest.mark.usefixtures("server_loop")
async def test_a_model_without_a_price_takes_the_default_and_says_price_assumed(
    fakes: SimpleNamespace, team: Any, admin_user: Any
) -> None:
    fakes.openai.push(openai_stream(PIECES, usage=(9, 2), model="o9-route"))
    run, _ = await finished(team, provider="openai", model="o9-route")

    assert run["model"] == "o9-route"
    (attempt,) = run["attempts"]
    assert attempt["price_assumed"] is True
    (record,) = await asyncio.to_thread(lambda: list(CostRecord.objects.filter(run_id=run["id"])))
    assert record.price_assumed is True
    assert record.cost == Decimal("0.00004250")  # OpenAI's "*" price: 0.0025 in, 0.01 out

    def pages() -> tuple[str, str]:
        page = client_for(team.viewer).get(f"/runs/{run['id']}/").content.decode()
        admin = client_for(admin_user).get("/admin/costs/costrecord/?price_assumed__exact=1")
        return page, admin.content.decode()

    page, admin = await asyncio.to_thread(pages)
    assert 'data-testid="price-assumed"' in page
    assert "price assumed" in admin.lower()
    assert run["id"][:8] in admin


@pytest.mark.usefixtures("server_loop")
async def test_the_api_refuses_a_provider_that_is_not_set_up(
    fakes: SimpleNamespace, team: Any
) -> None:
    client = await api_for(team.editor)
    body = {"project": team.project.pk, "topic": TOPIC, "provider": "gemini"}
    for route in ("/api/v1/scripts", "/api/v1/scripts/stream", "/api/v1/scripts/quote"):
        response = await client.post(route, body)
        assert response.status_code == 409, (route, response.content)
        error = response.json()["error"]
        assert error["code"] == "provider_not_configured"
        assert "Gemini" in error["message"] and "ask staff to add its key" in error["message"]
        assert error["details"][0]["field"] == "provider"
    assert await Run.objects.filter(project=team.project).acount() == 0


def test_the_form_greys_out_a_provider_that_is_not_set_up(
    fakes: SimpleNamespace, team: Any, admin_user: Any
) -> None:
    from aura_site.projects.models import Membership

    url = f"/projects/{team.project.pk}/scripts/new/"
    editor = client_for(team.editor)
    html = editor.get(url).content.decode()
    gemini = html[html.index('data-testid="provider-gemini"') :]
    gemini = gemini[: gemini.index("</details>")]
    assert 'value="gemini" disabled' in gemini
    assert "Ask staff to add a key" in gemini
    assert "/admin/" not in gemini, "only staff see where a provider is set up"

    response = editor.post(url, {"topic": TOPIC, "duration_seconds": "60", "provider": "gemini"})
    assert response.status_code == 400
    assert "is not set up, so it cannot be chosen" in response.content.decode()
    assert not Run.objects.filter(project=team.project).exists()

    Membership.objects.create(project=team.project, user=admin_user, role="owner")
    staff = client_for(admin_user).get(url).content.decode()
    gemini = staff[staff.index('data-testid="provider-gemini"') :]
    assert 'href="/admin/costs/providercredential/add/?provider=gemini"' in gemini


@pytest.mark.usefixtures("server_loop")
async def test_a_run_that_costs_more_than_expected_says_so(
    fakes: SimpleNamespace, team: Any
) -> None:
    fakes.openai.push(openai_stream(PIECES, usage=(9, 20_000)))
    run, events = await finished(team, provider="openai")
    assert run["provider"] == "openai"
    notice = only(events, "done")[0]["notice"]
    assert notice["codes"] == ["cost_above_expected"]
    assert notice["message"] == (
        "It cost $0.012, more than the "
        f"{format_usd(Decimal(run['expected_cost']))} expected before Start."
    )


@pytest.mark.usefixtures("server_loop")
async def test_the_quote_leaves_out_the_fallbacks_over_the_ceiling(
    fakes: SimpleNamespace, team: Any
) -> None:
    client = await api_for(team.editor)
    body = {"project": team.project.pk, "topic": TOPIC, "provider": "auto"}
    every = (await client.post("/api/v1/scripts/quote", body)).json()
    capped = (await client.post("/api/v1/scripts/quote", {**body, "max_cost_usd": 0.0005})).json()
    assert capped["expected_cost"] == every["expected_cost"]
    assert Decimal(capped["cost_ceiling"]) < Decimal(every["cost_ceiling"])
    refused = await client.post("/api/v1/scripts/quote", {**body, "max_cost_usd": -1})
    assert refused.status_code == 400
