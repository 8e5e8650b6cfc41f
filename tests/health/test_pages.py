"""The provider health page, its JSON in the API and the badges in the provider pickers, after
real calls to a loopback fake: who may see what."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse

from aura_site.accounts.tokens import token_create
from tests.fakes.providers import FakeProviderServer, openai_error
from tests.health.conftest import configure_llms
from tests.health.test_chain import KEY, generate

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/providers/health/"


@pytest.fixture
def open_circuit(settings: Any, fake: FakeProviderServer) -> FakeProviderServer:
    """OpenAI set up at the fake, failed twice with a 503 and its circuit open for 5 minutes."""
    settings.AURA_CIRCUIT_FAILURES = 2
    settings.AURA_CIRCUIT_COOLDOWN_SECONDS = 300
    configure_llms(
        settings, openai={"api_key": KEY, "base_url": fake.url("/v1"), "model": "gpt-4o-mini"}
    )
    fake.push(openai_error(503, "Upstream overloaded, request id req_123", type="server"))
    async_to_sync(generate)()
    async_to_sync(generate)()
    return fake


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_is_for_people_who_are_signed_in(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert reverse("health:providers") == URL


def test_everyone_sees_the_state_and_figures_staff_see_the_detail(
    open_circuit: FakeProviderServer, make_user: Callable[..., Any]
) -> None:
    person = make_user()
    html = client_for(person).get(URL).content.decode()
    assert 'data-testid="health-card-openai" data-state="circuit_open"' in html
    assert ">circuit open<" in html
    assert 'data-testid="health-card-rulebased" data-state="healthy"' in html
    assert 'data-testid="health-card-anthropic" data-state="not_set_up"' in html
    assert 'data-testid="health-card-neura" data-state="not_set_up"' in html
    assert ">overloaded<" in html  # the last error's kind
    assert "100 %" in html  # openai's error rate
    assert "Upstream overloaded" not in html
    assert 'data-testid="reopens-at"' not in html
    assert KEY not in html

    staff = make_user(is_staff=True)
    html = client_for(staff).get(URL).content.decode()
    assert "Upstream overloaded, request id req_123" in html
    assert 'data-testid="reopens-at"' in html
    assert "2 failures in a row" in html
    assert KEY not in html


def test_htmx_refreshes_only_the_figures(make_user: Callable[..., Any]) -> None:
    response = client_for(make_user()).get(URL, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div id="provider-health"')


def test_the_api_gives_the_same_state_and_the_detail_to_staff_only(
    open_circuit: FakeProviderServer, make_user: Callable[..., Any]
) -> None:
    assert Client().get("/api/v1/providers/health").status_code == 401

    def fetch(user: Any) -> dict[str, Any]:
        _, token = token_create(user=user, name="health")
        response = Client().get(
            "/api/v1/providers/health", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.content
        return {item["name"]: item for item in json.loads(response.content)}

    found = fetch(make_user())
    openai = found["openai"]
    assert openai["state"] == "circuit_open" and openai["family"] == "llm"
    assert openai["last_hour"]["calls"] == 2 and openai["last_hour"]["error_rate"] == 1.0
    assert openai["last_error"]["kind"] == "overloaded"
    assert openai["last_error"]["message"] is None
    assert openai["circuit"] is None and openai["check"] is None
    assert found["neura"]["state"] == "not_set_up" and found["neura"]["family"] == "video"

    staff = fetch(make_user(is_staff=True))["openai"]
    assert "Upstream overloaded, request id req_123" in staff["last_error"]["message"]
    assert staff["circuit"]["state"] == "open" and staff["circuit"]["reopens_at"]


def test_the_script_picker_shows_each_providers_state(
    open_circuit: FakeProviderServer, make_project: Callable[..., Any]
) -> None:
    project = make_project()
    html = client_for(project.created_by).get(reverse("scripts:new", args=[project.pk]))
    page = html.content.decode()
    assert 'data-testid="health-openai" data-state="circuit_open"' in page
    assert 'data-testid="health-rulebased" data-state="healthy"' in page
    assert 'data-testid="health-ollama" data-state="no_traffic"' in page
    # a provider that is not set up says so once, with what to configure, and no health badge
    assert 'data-testid="health-anthropic"' not in page
    assert f'href="{URL}"' in page


def test_the_roundtable_and_video_pickers_show_the_state(
    open_circuit: FakeProviderServer, make_project: Callable[..., Any], settings: Any
) -> None:
    from tests.fakes.videos import FakeNeura
    from tests.videos.conftest import configure_videos

    project = make_project()
    client = client_for(project.created_by)
    page = client.get(reverse("roundtable:new", args=[project.pk])).content.decode()
    assert 'data-testid="health-strip"' in page
    assert 'data-testid="health-openai" data-state="circuit_open"' in page

    with FakeNeura() as neura:
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": ""})
        page = client.get(reverse("videos:list", args=[project.pk])).content.decode()
    assert 'data-testid="health-neura" data-state="no_traffic"' in page
    assert 'data-testid="health-runway"' not in page
