"""No provider key, API token or session id in what the studio stores or shows (issue 14, point
6), beyond its logs (tests/test_secrets.py watches those):

- the stored event log, the run, its parts, its cost records and the saved script of runs that
  went through providers with test keys, whose error bodies echo the key back (as real ones do
  when a key is wrong), before any text (the switch) and mid-stream (the error event);
- the pages, the API's answers and every export of those runs;
- the error pages with ``DEBUG`` off (404, 403, CSRF failure, 500) and the API's error responses,
  for a caller who sent a session cookie and a bearer token;
- the admin: the change history (``LogEntry``) after staff set and replace a provider's key, the
  change and history pages, and the notice of the "Test key" action when the provider echoes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.forms.models import model_to_dict
from django.test import Client, override_settings
from django.urls import include, path, reverse

from aura_site.accounts.tokens import token_create
from generation.costs.models import CostRecord, ProviderCredential
from generation.runs.models import Run, RunEvent, RunPart
from generation.scripts.exports import FORMATS
from generation.scripts.models import Script, ScriptVersion
from tests import secrets_watch
from tests.fakes.providers import (
    SSE_HEADERS,
    FakeProviderServer,
    Reply,
    anthropic_error,
    anthropic_error_event,
    anthropic_events,
    gemini_error,
    openai_error,
    openai_events,
    sse,
)
from tests.scripts.conftest import _providers, team, wait_run

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["team", "wait_run"]

KEYS = {
    "openai": {"api_key": "sk-echo-openai-5f1d2c"},
    "anthropic": {"api_key": "sk-ant-echo-77a9e0"},
    "gemini": {"api_key": "AIzaEchoGemini31c"},
    "azure": {"api_key": "azure-echo-key-0b4e"},
}


def echoing(alias: str, key: str) -> Reply:
    """Each provider's "wrong key" answer, quoting the key it was sent."""
    if alias == "anthropic":
        return anthropic_error(401, "authentication_error", f"invalid x-api-key: {key}")
    if alias == "gemini":
        return gemini_error(400, "INVALID_ARGUMENT", f"API key not valid: {key}. Pass a valid key.")
    return openai_error(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")


def secrets_in(texts: dict[str, str], *, session_ids: list[str]) -> list[str]:
    found = []
    keys = secrets_watch.test_keys() | {k["api_key"] for k in KEYS.values()}
    for where, text in texts.items():
        for key in keys:
            if key in text:
                found.append(f"{where}: test key {key!r}")
        if secrets_watch.API_TOKEN.search(text):
            found.append(f"{where}: an API token")
        for session_id in session_ids:
            if session_id in text:
                found.append(f"{where}: a session id")
    return found


def stored(run: Run) -> dict[str, str]:
    texts = {f"run {run.pk}": json.dumps(model_to_dict(run), default=str)}
    for event in RunEvent.objects.filter(run=run):
        texts[f"event {event.seq} {event.event}"] = json.dumps(event.data)
    for part in RunPart.objects.filter(run=run):
        texts[f"part {part.key}"] = json.dumps(model_to_dict(part), default=str)
    for record in CostRecord.objects.filter(run_id=str(run.pk)):
        texts[f"cost {record.pk}"] = json.dumps(model_to_dict(record), default=str)
    return texts


def start_script(client: Client, team: Any, provider: str) -> Script:
    response = client.post(
        reverse("scripts:new", args=[team.project.pk]),
        {
            "topic": "Night photography for beginners",
            "platform": "youtube",
            "duration_seconds": "30",
            "delivery": "conversational",
            "template": "tutorial",
            "persona": "",
            "model": "",
            "audience": "",
            "tone": "",
            "kp_text": ["Use a tripod"],
            "kp_priority": ["should"],
            "provider": provider,
            "streaming": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    return Script.objects.order_by("-pk").first()  # type: ignore[return-value]


def shown(client: Client, run: Run, script: Script) -> dict[str, str]:
    pages = {
        "script page": client.get(script.get_absolute_url()),
        "run page": client.get(f"/runs/{run.pk}/"),
        "api run": client.get(f"/api/v1/runs/{run.pk}"),
        "api events": client.get(f"/api/v1/runs/{run.pk}/events"),
        "api script": client.get(f"/api/v1/scripts/{script.pk}"),
    }
    version = ScriptVersion.objects.filter(script=script).order_by("-number").first()
    if version is not None:
        for fmt in FORMATS:
            url = reverse(
                "scripts:export", args=[script.project_id, script.pk, version.number, fmt]
            )
            pages[f"export {fmt}"] = client.get(url)
    texts = {}
    for where, response in pages.items():
        assert response.status_code == 200, (where, response.status_code)
        body = b"".join(response) if response.streaming else response.content
        texts[where] = body.decode(errors="replace")
    return texts


@pytest.fixture
def echo_servers(settings: Any) -> Iterator[dict[str, FakeProviderServer]]:
    servers = {alias: FakeProviderServer() for alias in KEYS}
    for server in servers.values():
        server.__enter__()
    try:
        _providers(
            settings,
            openai={**KEYS["openai"], "base_url": servers["openai"].url("/v1")},
            anthropic={**KEYS["anthropic"], "base_url": servers["anthropic"].base_url},
            gemini={**KEYS["gemini"], "base_url": servers["gemini"].base_url},
            azure={
                **KEYS["azure"],
                "endpoint": servers["azure"].base_url,
                "deployment": "gpt-4o-mini",
                "api_version": "2024-10-21",
            },
        )
        yield servers
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)


@pytest.mark.parametrize("alias", sorted(KEYS))
def test_a_provider_echoing_its_key_before_any_text_leaves_no_key_anywhere(
    alias: str, echo_servers: dict[str, FakeProviderServer], team: Any, wait_run: Any
) -> None:
    echo_servers[alias].push(echoing(alias, KEYS[alias]["api_key"]))
    client = Client()
    client.force_login(team.editor)
    script = start_script(client, team, alias)
    run = wait_run(script.last_run_id)

    assert echo_servers[alias].requests, "the provider was never called"
    switches = RunEvent.objects.filter(run=run, event="provider_switch")
    assert switches.exists(), [e.event for e in RunEvent.objects.filter(run=run)]
    texts = {**stored(run), **shown(client, run, script)}
    assert secrets_in(texts, session_ids=[client.cookies["sessionid"].value]) == []
    reasons = " ".join(str(e.data.get("reason", "")) for e in switches)
    assert "API key" in reasons or "x-api-key" in reasons, reasons


@pytest.mark.parametrize("alias", ["anthropic", "openai"])
def test_a_provider_echoing_its_key_mid_stream_leaves_no_key_in_the_error_or_the_text(
    alias: str, echo_servers: dict[str, FakeProviderServer], team: Any, wait_run: Any
) -> None:
    key = KEYS[alias]["api_key"]
    if alias == "anthropic":
        events = anthropic_events(["Night ", "photography "], stop=False)[:-1]
        events.append(anthropic_error_event("overloaded_error", f"Overloaded (key {key})"))
    else:
        events = openai_events(["Night ", "photography "], usage=None)[:-2]
        events.append(sse({"error": {"message": f"Server error for key {key}", "type": "x"}}))
    echo_servers[alias].push(Reply(200, dict(SSE_HEADERS), events))
    client = Client()
    client.force_login(team.editor)
    script = start_script(client, team, alias)
    run = wait_run(script.last_run_id)

    errors = list(RunEvent.objects.filter(run=run, event="error"))
    assert run.status == "failed" and errors, (run.status, run.error_message)
    assert "Night photography" in errors[0].data["text"]
    texts = {**stored(run), **shown(client, run, script)}
    assert secrets_in(texts, session_ids=[client.cookies["sessionid"].value]) == []


def _boom(request: Any) -> Any:
    raise RuntimeError(f"failed while holding {KEYS['openai']['api_key']}")


urlpatterns = [path("boom/", _boom), path("", include("aura_site.urls"))]


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_error_pages_and_api_errors_never_show_a_key_token_or_session_id(
    team: Any, settings: Any
) -> None:
    _providers(settings, openai={**KEYS["openai"], "base_url": "http://127.0.0.1:9/v1"})
    raw_token = token_create(user=team.editor, name="probe")[1]
    client = Client(raise_request_exception=False, enforce_csrf_checks=True)
    client.force_login(team.editor)
    session_id = client.cookies["sessionid"].value
    bearer = {"Authorization": f"Bearer {raw_token}"}
    wrong = {"Authorization": f"Bearer {raw_token[:-4]}XXXX"}
    outsider_project = f"/api/v1/projects/{team.project.pk + 1000}/roundtables"
    answers = {
        "404 page": client.get("/no/such/page/", headers=bearer),
        "404 project page": client.get(f"/projects/{team.project.pk + 1000}/", headers=bearer),
        "csrf failure": client.post(
            reverse("scripts:new", args=[team.project.pk]), {"topic": "x"}, headers=bearer
        ),
        "500 page": client.get("/boom/", headers=bearer),
        "api 401": client.get("/api/v1/projects", headers=wrong),
        "api 404": client.get(outsider_project, headers=bearer),
        "api 400": client.post(
            "/api/v1/scripts",
            data=json.dumps({"project": team.project.pk, "topic": raw_token[:2], "x": 1}),
            content_type="application/json",
            headers=bearer,
        ),
        "api 403 csrf": client.post("/api/v1/projects", data="{}", content_type="application/json"),
        "api malformed": client.post(
            "/api/v1/projects", data="{not json", content_type="application/json", headers=bearer
        ),
    }
    statuses = {where: response.status_code for where, response in answers.items()}
    assert statuses == {
        "404 page": 404,
        "404 project page": 404,
        "csrf failure": 403,
        "500 page": 500,
        "api 401": 401,
        "api 404": 404,
        "api 400": 400,
        "api 403 csrf": 403,
        "api malformed": 400,
    }, statuses
    texts = {
        where: response.content.decode(errors="replace") for where, response in answers.items()
    }
    texts.update({f"{where} headers": str(dict(r.headers)) for where, r in answers.items()})
    assert secrets_in(texts, session_ids=[session_id]) == []
    assert raw_token[8:] not in "".join(texts.values())


def test_the_admin_history_of_a_provider_key_never_holds_the_key(
    settings: Any, make_user: Any
) -> None:
    first, second = "sk-admin-first-9c2e11", "sk-admin-second-4d7a08"
    staff = Client()
    staff.force_login(make_user(is_staff=True, is_superuser=True))
    with FakeProviderServer() as fake:
        fake.push(openai_error(401, f"Incorrect API key provided: {second}."))
        _providers(settings, openai={"api_key": "", "base_url": fake.url("/v1")})
        form = {
            "provider": "openai",
            "api_key": first,
            "base_url": "",
            "endpoint": "",
            "deployment": "",
            "api_version": "",
            "model": "",
            "enabled": "on",
        }
        added = staff.post("/admin/costs/providercredential/add/", form)
        assert added.status_code == 302, added.content.decode()[-3000:]
        credential = ProviderCredential.objects.get()
        change_url = f"/admin/costs/providercredential/{credential.pk}/change/"
        changed = staff.post(change_url, {**form, "api_key": second, "model": "gpt-4o-mini"})
        assert changed.status_code == 302, changed.content.decode()[-3000:]
        credential.refresh_from_db()
        assert credential.api_key() == second
        tested = staff.post(
            "/admin/costs/providercredential/",
            {"action": "test_key", "_selected_action": [credential.pk]},
            follow=True,
        )
        assert tested.status_code == 200
        assert fake.requests, "the key test never called the provider"

    entries = list(LogEntry.objects.all())
    assert len(entries) == 2
    texts = {
        f"log entry {entry.pk}": " ".join(
            [entry.object_repr, entry.change_message, entry.get_change_message()]
        )
        for entry in entries
    }
    texts["change page"] = staff.get(change_url).content.decode()
    texts["history page"] = staff.get(
        f"/admin/costs/providercredential/{credential.pk}/history/"
    ).content.decode()
    texts["list page"] = staff.get("/admin/costs/providercredential/").content.decode()
    texts["key test notice"] = tested.content.decode()
    texts["stored row"] = json.dumps(model_to_dict(credential), default=str)
    for where, text in texts.items():
        for key in (first, second):
            assert key not in text, (where, key)
    assert re.search(r"Incorrect API key provided", texts["key test notice"])
    latest = entries[0].get_change_message()
    assert "key" in latest.lower() and "Model" in latest, latest
