"""The script pages through Django's test client: forms, errors in place, guidance, versions,
exports and who may do what."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from aura_site.accounts.tokens import token_create
from generation.runs.models import Run
from generation.scripts.models import Persona, Script, ScriptVersion, VersionSource
from generation.scripts.services import script_create, script_input_clean, script_version_add

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def a_script(team: Any, text: str = "## Hook\n\nHello.\n\n## Body\n\nThe body.") -> Script:
    cleaned = script_input_clean(
        team.project,
        {
            "topic": "Night photography for beginners",
            "duration_seconds": 30,
            "key_points": [{"text": "Use a tripod", "priority": "must"}],
        },
    )
    script = script_create(project=team.project, user=team.editor, cleaned=cleaned)
    script_version_add(script, text=text, source=VersionSource.EDIT, user=team.editor)
    return script


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "topic": "How to brew pour-over coffee at home",
        "audience": "coffee beginners",
        "tone": "friendly",
        "platform": "youtube",
        "duration_seconds": "60",
        "delivery": "conversational",
        "template": "tutorial",
        "persona": "",
        "kp_text": ["Heat the water to 94 degrees", "Grind the beans fresh"],
        "kp_priority": ["must", "should"],
        "provider": "rulebased",
        "model": "",
        "streaming": "on",
    }
    data.update(changes)
    return data


def test_form_shows_providers_with_badges_templates_and_styles(team: Any) -> None:
    page = client_for(team.editor).get(reverse("scripts:new", args=[team.project.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Auto <span" in html and "recommended" in html
    for label in ("RuleBased (offline template)", "OpenAI", "Anthropic", "Ollama"):
        assert label in html
    assert "not set up" in html and "OPENAI_API_KEY" in html
    assert "template output" in html
    for name in ("Tutorial / How-to", "Listicle", "Story", "Product review", "Explainer"):
        assert name in html
    assert "Energetic (170 wpm)" in html
    assert (
        'name="streaming" checked' in html
        or 'checked name="streaming"' in html
        or ('name="streaming"' in html and "checked" in html)
    )


def test_every_form_error_appears_in_place_and_input_is_kept(team: Any) -> None:
    client = client_for(team.editor)
    url = reverse("scripts:new", args=[team.project.pk])
    response = client.post(
        url,
        form_data(
            topic="",
            duration_seconds="5",
            platform="myspace",
            delivery="whisper",
            template="no-such-template",
            kp_text=["Keep this text", "x" * 301],
            kp_priority=["urgent", "must"],
        ),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="script-form"' in html
    for field in ("topic", "duration_seconds", "platform", "delivery", "template"):
        assert f'data-testid="error-{field}"' in html, field
    assert "Give the video a topic." in html
    assert "at least 10 seconds" in html
    assert 'data-testid="error-key_points"' in html
    assert "Key point 1: choose must, should or nice." in html
    assert "Key point 2 is over 300 characters." in html
    assert 'value="Keep this text"' in html
    assert Script.objects.count() == 0 and Run.objects.count() == 0


def widget(html: str, name: str) -> str:
    """The opening tag of the form control named ``name``."""
    match = re.search(rf'<(?:input|textarea|select)\b[^>]*\bname="{name}"[^>]*>', html)
    assert match, name
    return match.group(0)


def test_errors_and_help_are_tied_to_their_fields(team: Any) -> None:
    url = reverse("scripts:new", args=[team.project.pk])
    html = client_for(team.editor).post(url, form_data(topic="", provider="nope")).content.decode()
    topic = widget(html, "topic")
    assert 'aria-invalid="true"' in topic and 'aria-describedby="id_topic_error"' in topic
    assert '<ul class="errorlist" id="id_topic_error" data-testid="error-topic">' in html
    audience = widget(html, "audience")
    assert "aria-invalid" not in audience and "aria-describedby" not in audience
    assert 'Audience <span class="muted small">(optional)</span></label>' in html
    streaming = widget(html, "streaming")
    assert 'aria-describedby="id_streaming_helptext"' in streaming
    assert '<div class="helptext" id="id_streaming_helptext">Off:' in html
    assert 'aria-describedby="provider-help provider-errors"' in html
    assert 'id="provider-errors" data-testid="error-provider"' in html

    persona = client_for(team.editor).post(
        reverse("scripts:persona_new", args=[team.project.pk]), {"name": ""}
    )
    name = widget(persona.content.decode(), "name")
    assert 'aria-invalid="true"' in name and 'aria-describedby="id_name_error"' in name


def test_a_persona_of_another_project_is_refused(team: Any, make_project: Any) -> None:
    other = make_project(owner=team.owner, name="Other")
    persona = Persona.objects.create(project=other, name="Elsewhere")
    response = client_for(team.editor).post(
        reverse("scripts:new", args=[team.project.pk]), form_data(persona=str(persona.pk))
    )
    assert response.status_code == 400
    assert 'data-testid="error-persona"' in response.content.decode()


def test_start_creates_the_script_and_its_run(team: Any) -> None:
    persona = Persona.objects.create(project=team.project, name="Maya", voice="warm")
    response = client_for(team.editor).post(
        reverse("scripts:new", args=[team.project.pk]),
        form_data(persona=str(persona.pk), delivery="fast", streaming=""),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Location" not in response
    script = Script.objects.get()
    assert response["HX-Redirect"] == script.get_absolute_url() + "?streaming=off"
    assert script.brief["words_per_minute"] == 190 and script.brief["word_budget"] == 190
    assert [p["text"] for p in script.brief["key_points"]] == [
        "Heat the water to 94 degrees",
        "Grind the beans fresh",
    ]
    assert script.brief["persona"]["name"] == "Maya"
    run = Run.objects.get()
    assert run.kind == "script" and run.provider == "rulebased"
    assert run.input["script_id"] == script.pk and run.input["delivery"] == "fast"
    assert script.last_run_id == run.pk and script.status == "generating"
    assert run.expected_tokens > 190


def test_guidance_as_you_type(team: Any) -> None:
    client = client_for(team.editor)
    url = reverse("scripts:guidance", args=[team.project.pk])

    def notes(**changes: Any) -> str:
        response = client.post(url, form_data(**changes), headers={"HX-Request": "true"})
        assert response.status_code == 200
        return response.content.decode()

    good = notes()
    assert "The brief looks good." in good
    assert 'data-testid="expected-words">150<' in good
    assert "template-v1" in good and "Template output (RuleBased, offline)" in good
    assert "too vague" in notes(topic="video tips")
    long_topic = " ".join(f"idea{i}" for i in range(45))
    assert "The topic is long" in notes(topic=long_topic)
    crowded = notes(
        duration_seconds="15",
        kp_text=[f"Point number {i} with quite a few words in it" for i in range(6)],
        kp_priority=["must"] * 6,
    )
    assert "don&#x27;t fit the duration" in crowded
    duplicate = notes(
        kp_text=["Use a tripod", "Always use a tripod"], kp_priority=["must", "should"]
    )
    assert "Key point 2" in duplicate and "duplicates key point 1" in duplicate
    openai = notes(provider="openai")
    assert "OpenAI is not set up, so it cannot be chosen: ask staff to add its key" in openai
    assert 'data-testid="expected-cost"' not in openai


def test_script_page_edit_compare_and_exports(team: Any) -> None:
    script = a_script(team, "## Hook\n\nNight skies <script>alert(1)</script>.\n\n## Body\n\nBody.")
    client = client_for(team.editor)
    detail = client.get(script.get_absolute_url())
    html = detail.content.decode()
    assert detail.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-testid="timing"' in html and 'data-testid="validation"' in html

    edit_url = reverse("scripts:edit", args=[team.project.pk, script.pk])
    empty = client.post(edit_url, {"text": "   ", "base": "1"})
    assert empty.status_code == 400 and "The script cannot be empty." in empty.content.decode()
    saved = client.post(
        edit_url,
        {"text": "## Hook\n\nNight skies, fixed.\n\n## Body\n\nUse a tripod.", "base": "1"},
    )
    assert saved.status_code == 302
    script.refresh_from_db()
    v2 = script.current_version
    assert v2 is not None and v2.parent is not None
    assert v2.number == 2 and v2.source == "edit" and v2.parent.number == 1
    assert v2.created_by == team.editor
    assert any(c["kind"] == "key_point" and c["passed"] for c in v2.validation["checks"])

    compare = client.get(
        reverse("scripts:compare", args=[team.project.pk, script.pk]), {"a": 1, "b": 2}
    )
    body = compare.content.decode()
    assert compare.status_code == 200 and 'data-kind="changed"' in body
    assert "&lt;script&gt;" in body and "<script>alert" not in body
    same = client.get(
        reverse("scripts:compare", args=[team.project.pk, script.pk]), {"a": 1, "b": 1}
    )
    assert same.status_code == 400 and "Choose two different versions." in same.content.decode()

    def export(fmt: str) -> Any:
        return client.get(reverse("scripts:export", args=[team.project.pk, script.pk, 2, fmt]))

    md = export("md")
    assert md["Content-Disposition"].endswith('-v2.md"')
    assert md.content.decode().startswith("# Night photography for beginners\n")
    txt = export("txt").content.decode()
    assert "[0:00] Hook" in txt and "## " not in txt
    srt = export("srt").content.decode()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0")
    assert "Use a tripod." in srt and "[Body]" not in srt and "Hook" not in srt
    assert export("vtt").content.decode().startswith("WEBVTT\n")
    sheet = export("csv")
    assert sheet["Content-Disposition"].endswith('-v2-timing.csv"')
    header = sheet.content.decode().splitlines()[0]
    assert header == "Section,Start,End,Seconds,Words,Planned seconds"
    assert export("pdf").status_code == 404


def test_non_members_get_404_and_viewers_cannot_write(team: Any) -> None:
    script = a_script(team)
    pid, sid = team.project.pk, script.pk
    reads = [
        reverse("scripts:list", args=[pid]),
        reverse("scripts:personas", args=[pid]),
        script.get_absolute_url(),
        reverse("scripts:compare", args=[pid, sid]) + "?a=1&b=1",
        reverse("scripts:export", args=[pid, sid, 1, "md"]),
    ]
    writes = [
        ("get", reverse("scripts:new", args=[pid])),
        ("post", reverse("scripts:new", args=[pid])),
        ("post", reverse("scripts:guidance", args=[pid])),
        ("get", reverse("scripts:edit", args=[pid, sid])),
        ("post", reverse("scripts:regenerate", args=[pid, sid])),
        ("post", reverse("scripts:continue", args=[pid, sid, 1])),
        ("get", reverse("scripts:persona_new", args=[pid])),
    ]
    outsider = client_for(team.outsider)
    for url in reads:
        assert outsider.get(url).status_code == 404, url
    for method, url in writes:
        assert getattr(outsider, method)(url).status_code == 404, url
    assert outsider.get(f"/api/v1/scripts/{sid}").status_code == 404

    viewer = client_for(team.viewer)
    for url in reads[:4]:
        assert viewer.get(url).status_code in (200, 400), url
    for method, url in writes:
        assert getattr(viewer, method)(url).status_code == 403, url
    detail = viewer.get(script.get_absolute_url()).content.decode()
    assert 'data-testid="edit"' not in detail and "Regenerate" not in detail
    assert ScriptVersion.objects.count() == 1 and Run.objects.count() == 0

    api = viewer.get(f"/api/v1/scripts/{sid}")
    assert api.status_code == 200
    assert api.json()["versions"][0]["number"] == 1


def test_personas_create_edit_delete_with_errors_in_place(team: Any) -> None:
    client = client_for(team.editor)
    new_url = reverse("scripts:persona_new", args=[team.project.pk])
    missing = client.post(new_url, {"name": "", "do": "x\n" * 25})
    html = missing.content.decode()
    assert missing.status_code == 400
    assert 'data-testid="error-name"' in html and "Give the persona a name." in html
    assert 'data-testid="error-do"' in html and "At most 20 lines." in html
    assert (
        client.post(
            new_url, {"name": "Maya", "do": "Smile\n\nBe brief", "dont": "Shout"}
        ).status_code
        == 302
    )
    maya = Persona.objects.get()
    assert maya.do == ["Smile", "Be brief"] and maya.dont == ["Shout"]
    twin = client.post(new_url, {"name": "maya"})
    assert twin.status_code == 400 and "already has a persona" in twin.content.decode()
    edit_url = reverse("scripts:persona_edit", args=[team.project.pk, maya.pk])
    assert client.post(edit_url, {"name": "Maya B", "voice": "calm"}).status_code == 302
    maya.refresh_from_db()
    assert maya.name == "Maya B" and maya.voice == "calm" and maya.do == []
    listing = client.get(reverse("scripts:personas", args=[team.project.pk])).content.decode()
    assert "Maya B" in listing
    delete_url = reverse("scripts:persona_delete", args=[team.project.pk, maya.pk])
    assert client.post(delete_url).status_code == 302
    assert not Persona.objects.exists()


def test_history_lists_and_searches(team: Any) -> None:
    a_script(team)
    cleaned = script_input_clean(team.project, {"topic": "Sourdough starter basics"})
    script_create(project=team.project, user=team.editor, cleaned=cleaned)
    client = client_for(team.viewer)
    url = reverse("scripts:list", args=[team.project.pk])
    everything = client.get(url).content.decode()
    assert "Night photography" in everything and "Sourdough" in everything
    found = client.get(
        url, {"q": "sourdough"}, headers={"HX-Request": "true", "HX-Target": "script-results"}
    )
    html = found.content.decode()
    assert "<html" not in html and "Sourdough" in html and "Night photography" not in html
    assert "No script matches" in client.get(url, {"q": "zzz"}).content.decode()


@pytest.mark.django_db(transaction=True)
def test_regenerate_and_continue_start_runs_for_the_script(team: Any, wait_run: Any) -> None:
    script = a_script(team)
    partial = script_version_add(
        script, text="## Hook\n\nHalf a", source=VersionSource.RUN, complete=False
    )
    client = client_for(team.editor)
    regen = client.post(
        reverse("scripts:regenerate", args=[team.project.pk, script.pk]),
        {"provider": "rulebased", "model": ""},
    )
    assert regen.status_code == 302
    run = Run.objects.get()
    assert run.input["script_id"] == script.pk and "continue_version" not in run.input
    wait_run(run.pk)
    page = client.get(script.get_absolute_url()).content.decode()
    assert 'data-testid="continue-form"' in page
    cont = client.post(
        reverse("scripts:continue", args=[team.project.pk, script.pk, partial.number]),
        {"provider": "rulebased"},
    )
    assert cont.status_code == 302
    run = Run.objects.exclude(pk=run.pk).get()
    assert run.input["continue_version"] == partial.number
    assert run.expected_tokens < 200
    wait_run(run.pk)
    bad = client.post(
        reverse("scripts:regenerate", args=[team.project.pk, script.pk]), {"provider": "nope"}
    )
    assert bad.status_code == 302 and Run.objects.count() == 2


def test_htmx_requests_are_sent_on_with_hx_redirect_and_plain_ones_with_302(team: Any) -> None:
    script = a_script(team)
    persona = Persona.objects.create(project=team.project, name="Maya")
    pid = team.project.pk
    personas = reverse("scripts:personas", args=[pid])
    posts = [
        (reverse("scripts:persona_new", args=[pid]), {"name": "Ben"}, personas),
        (reverse("scripts:persona_edit", args=[pid, persona.pk]), {"name": "Maya B"}, personas),
        (
            reverse("scripts:edit", args=[pid, script.pk]),
            {"text": "## Hook\n\nEdited.", "base": "1"},
            script.get_absolute_url(),
        ),
        (
            reverse("scripts:regenerate", args=[pid, script.pk]),
            {"provider": "nope"},
            script.get_absolute_url(),
        ),
        (reverse("scripts:persona_delete", args=[pid, persona.pk]), {}, personas),
    ]
    client = client_for(team.editor)
    for url, data, goes_to in posts:
        response = client.post(url, data, headers={"HX-Request": "true"})
        assert response.status_code == 200, url
        assert response["HX-Redirect"] == goes_to and "Location" not in response, url
    again = Persona.objects.create(project=team.project, name="Cleo")
    plain = client.post(reverse("scripts:persona_delete", args=[pid, again.pk]))
    assert plain.status_code == 302 and plain["Location"] == personas
    assert "HX-Redirect" not in plain


def test_htmx_form_errors_come_back_in_place_as_the_form_alone(team: Any) -> None:
    url = reverse("scripts:new", args=[team.project.pk])
    client = client_for(team.editor)
    htmx = client.post(url, form_data(topic=""), headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and "HX-Redirect" not in htmx
    assert htmx.content.decode().lstrip().startswith('<form id="script-form"')
    plain = client.post(url, form_data(topic=""))
    assert plain.status_code == 400 and "<html" in plain.content.decode()


def test_guidance_marked_fix_stops_start_until_the_user_starts_anyway(team: Any) -> None:
    client = client_for(team.editor)
    url = reverse("scripts:new", args=[team.project.pk])
    duplicate = form_data(
        kp_text=["Use a tripod at night", "Always use a tripod at night"],
        kp_priority=["must", "must"],
    )
    refused = client.post(url, duplicate, headers={"HX-Request": "true"})
    html = refused.content.decode()
    assert refused.status_code == 200 and Script.objects.count() == 0
    summary = html[html.index("data-error-summary") :]
    summary = summary[: summary.index("</div>")]
    assert "Not started." in summary and "duplicates key point 1" in summary
    assert 'href="#kp-text-2"' in summary
    assert 'name="start_anyway"' in html
    second = re.search(r'<input[^>]*id="kp-text-2"[^>]*>', html)
    assert second and 'aria-invalid="true"' in second.group(0)
    first = re.search(r'<input[^>]*id="kp-text-1"[^>]*>', html)
    assert first and "aria-invalid" not in first.group(0)

    started = client.post(url, {**duplicate, "start_anyway": "on"}, headers={"HX-Request": "true"})
    assert started.status_code == 200 and "HX-Redirect" in started
    assert Script.objects.count() == 1 and Run.objects.count() == 1


def test_the_form_refuses_what_start_anyway_cannot_pass(team: Any) -> None:
    """A problem the form itself refuses gives no "start anyway"."""
    response = client_for(team.editor).post(
        reverse("scripts:new", args=[team.project.pk]), form_data(topic="ab")
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'href="#row-id_topic"' in html and 'name="start_anyway"' not in html
    guidance = client_for(team.editor).post(
        reverse("scripts:guidance", args=[team.project.pk]), form_data(topic="ab")
    )
    assert "at least 3 characters" in guidance.content.decode()
    assert 'name="start_anyway"' not in guidance.content.decode()


def test_a_key_point_past_the_limit_is_named_in_the_summary(team: Any) -> None:
    response = client_for(team.editor).post(
        reverse("scripts:new", args=[team.project.pk]),
        form_data(
            kp_text=[f"Point {i} about tripods" for i in range(21)], kp_priority=["nice"] * 21
        ),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "At most 20 key points." in html and 'href="#kp-text-21"' in html
    assert "Fix the key points below." not in html


def test_the_form_shows_the_expected_cost_the_run_is_given(team: Any, scripted_openai: Any) -> None:
    from aura_site.money import format_estimate

    persona = Persona.objects.create(
        project=team.project, name="Maya", voice="warm, curious, plain words " * 20
    )
    data = form_data(provider="openai", persona=str(persona.pk), template="listicle")
    client = client_for(team.editor)
    guidance = client.post(
        reverse("scripts:guidance", args=[team.project.pk]), data, headers={"HX-Request": "true"}
    ).content.decode()
    shown = re.search(r'data-testid="expected-cost">([^<]+)<', guidance)
    assert shown, guidance
    client.post(reverse("scripts:new", args=[team.project.pk]), data)
    run = Run.objects.get()
    assert run.expected_cost > 0
    assert shown.group(1) == format_estimate(run.expected_cost)

    # The API's quote of the same brief and the run panel's expected cost are the same figure.
    _token, raw = token_create(user=team.editor, name="quote")
    quote = Client().post(
        "/api/v1/scripts/quote",
        {
            "project": team.project.pk,
            **{name: data[name] for name in ("topic", "audience", "tone", "platform")},
            "duration_seconds": int(data["duration_seconds"]),
            "delivery": data["delivery"],
            "template": "listicle",
            "persona": persona.pk,
            "key_points": [
                {"text": text, "priority": priority}
                for text, priority in zip(data["kp_text"], data["kp_priority"], strict=True)
            ],
            "provider": "openai",
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert quote.status_code == 200, quote.content
    assert Decimal(quote.json()["expected_cost"]) == run.expected_cost
    panel = client.get(f"/runs/{run.pk}/").content.decode()
    expected = re.search(
        rf'id="{run.dom_id}-m-expected" data-metric="expected_cost">([^<]+)<', panel
    )
    assert expected, panel
    assert expected.group(1) == shown.group(1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("server_loop")
@pytest.mark.parametrize("reported", [True, False])
def test_a_cost_is_marked_estimated_until_the_provider_reports_its_usage(
    team: Any, reported: bool, settings: Any, wait_run: Any
) -> None:
    """OpenAI reports usage when asked (``stream_options.include_usage``); a server that does
    not leaves the tokens counted by the studio, and the cost reads "≈" after the run too."""
    from tests.fakes.providers import FakeProviderServer, openai_stream
    from tests.scripts.conftest import _providers
    from tests.scripts.test_api import valid_script

    settings.AURA_RUN_MAX_LOOP_LAG_MS = 5000
    text = valid_script()
    pieces = re.findall(r"\s*\S+", text)
    with FakeProviderServer() as fake:
        fake.push(openai_stream(pieces, usage=(40, len(pieces)) if reported else None))
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.url("/v1"), "model": "gpt-4o-mini"},
        )
        client = client_for(team.editor)
        client.post(reverse("scripts:new", args=[team.project.pk]), form_data(provider="openai"))
        run = wait_run(Run.objects.get().pk)
    assert run.status == "succeeded" and run.usage_reported is reported
    panel = client.get(f"/runs/{run.pk}/").content.decode()
    cost = re.search(rf'id="{run.dom_id}-m-cost" data-metric="cost">([^<]+)<', panel)
    assert cost, panel
    assert cost.group(1).startswith("\u2248") is not reported
    assert cost.group(1).lstrip("\u2248\xa0").startswith("$")
