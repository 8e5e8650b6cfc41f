"""A script written by a hostile model (tests/fakes/hostile.py) through the real run: its page,
the edit and compare pages, every export and the admin's change pages of its run, events and
cost records show the payloads as text, and no markup of them comes alive."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from generation.costs.models import CostRecord
from generation.runs.fragments import render_stored_event
from generation.runs.kinds import spec_for
from generation.runs.models import RunEvent
from generation.scripts.exports import FORMATS
from generation.scripts.models import Script
from tests.fakes.hostile import HOSTILE_MODEL, PAYLOADS, VISIBLE, HostileTable, audit_html
from tests.scripts.conftest import _providers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hostile(settings: Any) -> Iterator[HostileTable]:
    with HostileTable(size=31, delay=0) as fake:
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        )
        yield fake


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_inert(html: str, where: str) -> str:
    problems, text = audit_html(html)
    assert not problems, (where, problems)
    return text


def test_a_hostile_script_is_text_on_every_page_export_and_admin_page(
    hostile: HostileTable, team: Any, wait_run: Any, make_user: Any
) -> None:
    client = client_for(team.editor)
    response = client.post(
        reverse("scripts:new", args=[team.project.pk]),
        {
            "topic": "Night photography for beginners",
            "platform": "youtube",
            "duration_seconds": "60",
            "delivery": "conversational",
            "template": "tutorial",
            "persona": "",
            "model": "",
            "audience": "",
            "tone": "",
            "kp_text": ["Use a tripod"],
            "kp_priority": ["should"],
            "provider": "openai",
            "streaming": "on",
        },
    )
    assert response.status_code == 302, [
        m for m in response.content.decode().split("<li>") if "</li>" in m
    ][:5]
    script = Script.objects.get()
    run = wait_run(script.last_run_id)
    assert run.status == "succeeded", (run.status, run.error_message)
    script.refresh_from_db()
    version = script.current_version
    assert version is not None and PAYLOADS["script"] in version.text

    detail = client.get(script.get_absolute_url())
    text = assert_inert(detail.content.decode(), "script page")
    for piece in VISIBLE:
        assert piece in text, piece
    assert HOSTILE_MODEL in text

    edit_url = reverse("scripts:edit", args=[team.project.pk, script.pk])
    edit = client.get(edit_url)
    assert PAYLOADS["textarea-breakout"] in assert_inert(edit.content.decode(), "edit page")
    saved = client.post(
        edit_url,
        {
            "text": version.text.replace("\x00", "") + "\n" + PAYLOADS["hx-on"] + "\n",
            "base": str(version.number),
        },
    )
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    script.refresh_from_db()
    latest = script.current_version
    assert latest is not None and latest.number == version.number + 1
    compare = client.get(
        reverse("scripts:compare", args=[team.project.pk, script.pk]),
        {"a": version.number, "b": latest.number},
    )
    assert compare.status_code == 200
    compared = assert_inert(compare.content.decode(), "compare page")
    assert PAYLOADS["hx-on"] in compared and PAYLOADS["script"] in compared

    for fmt in FORMATS:
        export = client.get(
            reverse("scripts:export", args=[team.project.pk, script.pk, latest.number, fmt])
        )
        assert export.status_code == 200, fmt
        assert "html" not in export["Content-Type"], (fmt, export["Content-Type"])
        assert export["Content-Disposition"].startswith("attachment; "), fmt
        assert export["X-Content-Type-Options"] == "nosniff", fmt

    vtt = client.get(
        reverse("scripts:export", args=[team.project.pk, script.pk, latest.number, "vtt"])
    ).content.decode()
    cues = vtt.split("\n\n")[1:]
    assert cues and all(cue.count("-->") == 1 for cue in cues if cue.strip()), vtt[:2000]
    assert "<script>" not in vtt and "&lt;script&gt;" in vtt
    assert "<c.x>" not in vtt and "&lt;c.x&gt;cue&lt;/c&gt;" in vtt

    staff = client_for(make_user(is_staff=True, is_superuser=True))
    pages = {"run": f"/admin/runs/run/{run.pk}/change/"}
    event = RunEvent.objects.filter(run=run, event="chunk").first()
    if event is not None:
        pages["event"] = f"/admin/runs/runevent/{event.pk}/change/"
    records = list(CostRecord.objects.filter(run_id=str(run.pk)))
    assert records
    for record in records:
        pages[f"cost {record.pk}"] = f"/admin/costs/costrecord/{record.pk}/change/"
    pages["runs"] = "/admin/runs/run/"
    pages["costs"] = "/admin/costs/costrecord/"
    for name, url in pages.items():
        page = staff.get(url)
        assert page.status_code == 200, (name, page.status_code)
        assert_inert(page.content.decode(), f"admin {name}")


@pytest.fixture
def failing(settings: Any) -> Iterator[HostileTable]:
    with HostileTable(delay=0, fail_first=100) as fake:
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        )
        yield fake


def test_a_provider_error_with_markup_is_text_in_the_switch_and_on_the_page(
    failing: HostileTable, team: Any, wait_run: Any
) -> None:
    client = client_for(team.editor)
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
            "provider": "auto",
            "streaming": "on",
        },
    )
    assert response.status_code == 302
    script = Script.objects.get()
    run = wait_run(script.last_run_id)
    switches = [e.data for e in RunEvent.objects.filter(run=run, event="provider_switch")]
    assert switches, [e.event for e in RunEvent.objects.filter(run=run)]
    assert any("<script>" in str(switch) for switch in switches), switches
    assert_inert(client.get(script.get_absolute_url()).content.decode(), "script page")
    page = client.get(f"/runs/{run.pk}/")
    text = assert_inert(page.content.decode(), "run page after a switch")
    assert "<script>" in text, text
    spec = spec_for("script")
    for event in RunEvent.objects.filter(run=run).order_by("seq"):
        assert_inert(
            render_stored_event(run, spec, event.event, event.data, event.part),
            f"event {event.seq} {event.event}",
        )
