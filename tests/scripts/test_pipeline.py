"""The script run end to end: real runs, the real RuleBased provider, a loopback OpenAI fake."""

from __future__ import annotations

from typing import Any

import pytest

from generation.scripts.launch import script_generate
from generation.scripts.models import Persona, Script, ScriptStatus, ScriptTemplate
from generation.scripts.services import script_create, script_input_clean
from tests.scripts.conftest import events_of
from tests.scripts.fake_llm import Answer

pytestmark = pytest.mark.django_db(transaction=True)

MUST = "Check the audio levels before every take"

GOOD = f"""## Hook

Want clean sound at home? Here's how.

## Body

First, record in a quiet room with soft furnishings. {MUST}, because clipping ruins a take and
cannot be fixed later. Keep the microphone a hand's width from your mouth and speak across it, not
into it. Use a pop filter. Record ten seconds of silence so noise can be removed later. Listen
back with headphones before you move on. Small habits like these add up to a sound that people
trust, and they cost nothing but a minute of attention each time you press record.

## Call to action

Subscribe for more home studio tips."""

MISSING = GOOD.replace(
    f"{MUST}, because clipping ruins a take and\ncannot be fixed later.",
    ("Mind the room, because echo ruins a take and\ncannot be fixed later."),
)


def start(team: Any, *, provider: str = "rulebased", **brief: Any) -> tuple[Script, Any]:
    data = {
        "topic": "Recording clean voice-overs at home",
        "duration_seconds": 45,
        "key_points": [{"text": MUST, "priority": "must"}],
        **brief,
    }
    cleaned = script_input_clean(team.project, data)
    script = script_create(project=team.project, user=team.editor, cleaned=cleaned)
    run = script_generate(user=team.editor, script=script, provider=provider)
    return script, run


def test_rulebased_run_saves_a_validated_version(team: Any, wait_run: Any) -> None:
    template = ScriptTemplate.objects.get(slug="tutorial")
    script, run = start(team, template="tutorial", duration_seconds=60)
    run = wait_run(run.pk)
    assert run.status == "succeeded", run.error_message
    script.refresh_from_db()
    assert script.status == ScriptStatus.READY
    version = script.current_version
    assert version is not None and version.number == 1 and version.source == "run"
    assert version.provider == "rulebased" and version.is_template_output
    assert version.validation["passed"] is True
    assert version.text == run.text
    for section in template.sections:
        assert f"## {section['title']}" in version.text
    events = events_of(run.pk)
    stages = [d["stage"] for e, d in events if e == "progress"]
    assert stages[:1] == ["generating"] and "validating" in stages and stages[-1] == "saving"
    assert "revising" not in stages
    done = events[-1]
    assert done[0] == "done"
    assert done[1]["script_id"] == script.pk
    assert done[1]["validation"]["passed"] is True
    chunks = "".join(d["content"] for e, d in events if e == "chunk")
    assert chunks == done[1]["text"] == version.text
    from aura_site.projects.models import Activity

    feed = list(Activity.objects.filter(project=team.project).order_by("id"))
    assert [(a.actor, a.verb) for a in feed[-2:]] == [
        (team.editor, f"started writing the script “{script.title}”"),
        (team.editor, f"finished the script “{script.title}”"),
    ]


def test_persona_is_loaded_and_used_in_the_prompt(
    team: Any, wait_run: Any, scripted_openai: Any
) -> None:
    scripted_openai.push(GOOD)
    persona = Persona.objects.create(
        project=team.project,
        name="Studio Sam",
        voice="dry and precise",
        do=["name the gear you use"],
        dont=["say 'smash that like button'"],
    )
    _, run = start(team, provider="openai", persona=persona.pk)
    run = wait_run(run.pk)
    assert run.status == "succeeded", run.error_message
    stages = [d["stage"] for e, d in events_of(run.pk) if e == "progress"]
    assert stages[0] == "loading_persona"
    system = scripted_openai.bodies[0]["messages"][0]
    assert system["role"] == "system"
    assert "Studio Sam" in system["content"]
    assert "name the gear you use" in system["content"]
    assert "smash that like button" in system["content"]


def test_an_answer_missing_a_must_point_is_revised_visibly(
    team: Any, wait_run: Any, scripted_openai: Any
) -> None:
    scripted_openai.push(MISSING, GOOD)
    script, run = start(team, provider="openai")
    run = wait_run(run.pk)
    assert run.status == "succeeded", run.error_message
    events = events_of(run.pk)
    revising = [d for e, d in events if e == "progress" and d["stage"] == "revising"]
    assert len(revising) == 1
    assert MUST in revising[0]["message"]
    resets = [d for e, d in events if e == "progress" and d["stage"] == "reset"]
    assert len(resets) == 1 and MUST in resets[0]["message"]
    revise_request = scripted_openai.bodies[1]["messages"]
    assert revise_request[-2]["role"] == "assistant"
    assert MUST in revise_request[-1]["content"]
    script.refresh_from_db()
    versions = list(script.versions.order_by("number"))
    assert [v.source for v in versions] == ["run", "revision"]
    assert versions[0].validation["passed"] is False
    assert versions[1].validation["passed"] is True
    assert versions[1].validation["revisions"] == 1
    assert versions[1].parent_id == versions[0].pk
    assert script.current_version_id == versions[1].pk
    assert script.status == ScriptStatus.READY
    done = events[-1][1]
    assert done["validation"]["passed"] is True and done["text"] == versions[1].text


def test_revision_stops_after_two_attempts(team: Any, wait_run: Any, scripted_openai: Any) -> None:
    scripted_openai.push(MISSING)
    script, run = start(team, provider="openai")
    run = wait_run(run.pk)
    assert run.status == "succeeded", run.error_message
    assert len(scripted_openai.bodies) == 3
    script.refresh_from_db()
    assert script.status == ScriptStatus.NEEDS_REVIEW
    assert [v.source for v in script.versions.order_by("number")] == [
        "run",
        "revision",
        "revision",
    ]
    assert script.current_version is not None
    report = script.current_version.validation
    assert report["passed"] is False and report["revisions"] == 2
    assert any(MUST in p for p in report["problems"])


def test_a_cut_off_version_is_kept_and_continued_on_another_provider(
    team: Any, wait_run: Any, scripted_openai: Any
) -> None:
    scripted_openai.push(Answer(GOOD, cut_after=12))
    script, run = start(team, provider="openai")
    run = wait_run(run.pk)
    assert run.status == "failed"
    script.refresh_from_db()
    assert script.status == ScriptStatus.FAILED
    partial = script.versions.get()
    assert not partial.complete
    assert partial.text == run.text and partial.text.startswith("## Hook")
    assert partial.provider == "openai"

    second = script_generate(
        user=team.editor, script=script, provider="rulebased", continue_version=partial.number
    )
    second = wait_run(second.pk)
    assert second.status == "succeeded", second.error_message
    script.refresh_from_db()
    continued = script.current_version
    assert continued is not None
    assert continued.source == "continuation" and continued.parent_id == partial.pk
    assert continued.text.startswith(partial.text)
    assert len(continued.text) > len(partial.text)
    assert "## Call to action" in continued.text
    assert second.text == continued.text


def test_cancel_keeps_the_partial_text_as_an_unfinished_version(
    team: Any, wait_run: Any, settings: Any
) -> None:
    import time

    from asgiref.sync import async_to_sync

    from generation.providers import registry
    from generation.runs.models import RunEvent
    from generation.runs.services import run_cancel

    providers = dict(settings.LLM_PROVIDERS)
    providers["rulebased"] = {**providers["rulebased"], "OPTIONS": {"pace_ms": 40}}
    settings.LLM_PROVIDERS = providers
    registry.reset()
    script, run = start(team, duration_seconds=900)
    deadline = time.monotonic() + 30
    while not RunEvent.objects.filter(run_id=run.pk, event="chunk").count() >= 3:
        assert time.monotonic() < deadline, "no text streamed"
        time.sleep(0.02)
    # The editor started it; the owner cancels it: the feed names each.
    async_to_sync(run_cancel)(team.owner, run.pk)
    run = wait_run(run.pk)
    assert run.status == "cancelled" and run.cancelled_by == team.owner
    script.refresh_from_db()
    assert script.status == ScriptStatus.CANCELLED
    partial = script.versions.get()
    assert not partial.complete and partial.text == run.text
    assert 0 < len(partial.text) < 2000
    assert partial.output_tokens > 0 and partial.provider == "rulebased"
    assert "cancelled" in partial.note
    from aura_site.projects.models import Activity

    feed = [(a.actor, a.verb) for a in Activity.objects.filter(project=team.project).order_by("id")]
    assert feed[-1] == (team.owner, f"cancelled the script “{script.title}”")
    assert (team.editor, f"started writing the script “{script.title}”") in feed[:-1], feed


def test_a_run_whose_process_died_becomes_an_unfinished_version(team: Any) -> None:
    """The reaper ends the run of a dead process; the script kind's ``on_end`` makes its text
    an unfinished version and the script ``interrupted`` at once, in every list."""
    from datetime import timedelta

    from django.utils import timezone

    from generation.runs.maintenance import reap_stale_runs_sync
    from generation.runs.models import Run, RunEvent, RunPart

    cleaned = script_input_clean(team.project, {"topic": "Tides and the moon"})
    script = script_create(project=team.project, user=team.editor, cleaned=cleaned)
    run = Run.objects.create(
        project=team.project,
        kind="script",
        created_by=team.editor,
        status="running",
        provider="openai",
        model="gpt-4o-mini",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        worker_id="gone:1",
        text="## Hook\n\nThe moon",
        text_seq=2,
        input={"script_id": script.pk},
    )
    RunPart.objects.create(
        run=run, key="main", status="running", text="## Hook\n\nThe moon", text_seq=2
    )
    RunEvent.objects.create(run=run, seq=1, event="run", data={})
    RunEvent.objects.create(
        run=run, seq=2, event="chunk", part="main", data={"content": "## Hook\n\nThe moon"}
    )
    RunEvent.objects.create(run=run, seq=3, event="chunk", part="main", data={"content": " pulls"})
    script.last_run_id = run.pk
    script.save()

    ended, _ = reap_stale_runs_sync()

    assert [item.run.pk for item in ended] == [run.pk]
    script.refresh_from_db()
    assert script.status == ScriptStatus.INTERRUPTED
    version = script.versions.get()
    assert version.text == "## Hook\n\nThe moon pulls"
    assert not version.complete and version.run_id == run.pk
    assert RunPart.objects.get(run=run).status == "failed"
    assert reap_stale_runs_sync()[0] == []
    assert script.versions.count() == 1


def test_a_script_run_started_through_the_api_is_saved_and_readable(team: Any) -> None:
    from django.test import Client

    template = ScriptTemplate.objects.get(slug="explainer")
    client = Client()
    client.force_login(team.editor)
    body = {
        "project": team.project.pk,
        "topic": "Why the sky is blue",
        "template": template.slug,
        "platform": "youtube_shorts",
        "duration_seconds": 40,
        "key_points": [{"text": "Rayleigh scattering favours short wavelengths"}],
        "provider": "rulebased",
    }
    response = client.post("/api/v1/scripts", body, content_type="application/json")
    assert response.status_code == 200, response.content
    run = response.json()
    assert run["status"] == "succeeded"
    script = Script.objects.get(project=team.project)
    saved = client.get(f"/api/v1/scripts/{script.pk}")
    assert saved.status_code == 200
    data = saved.json()
    assert data["template"] == "explainer" and data["status"] == "ready"
    assert data["versions"][0]["text"] == run["text"]
    assert data["versions"][0]["validation"]["passed"] is True
    assert data["versions"][0]["template_output"] is True
    other = Client()
    other.force_login(team.outsider)
    assert other.get(f"/api/v1/scripts/{script.pk}").status_code == 404
