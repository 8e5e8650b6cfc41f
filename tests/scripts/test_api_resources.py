"""The script resources of the API: a project's scripts (paginated, searchable, newest first),
a script's exports by format, and personas (members read, editors write)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
import webvtt
from django.test import Client
from django.utils import timezone

from aura_site.accounts.tokens import token_create
from generation.runs.models import Run, RunStatus
from generation.scripts.models import Persona, Script, ScriptStatus, VersionSource
from generation.scripts.services import script_version_add

pytestmark = pytest.mark.django_db

SCRIPT_TEXT = (
    "## Hook\n\nThe tide comes in twice a day, and the moon is why.\n\n"
    "## Body\n\nThe moon pulls the water towards it. The far side bulges too, so every coast "
    "sees two high tides. The sun adds its own pull: when both line up we get spring tides.\n\n"
    "## Close\n\nNext time you walk the beach, look up.\n"
)


class Caller:
    def __init__(self, user: Any) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token_create(user=user, name='t')[1]}"}

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, body, content_type="application/json", headers=self.headers)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(path, body, content_type="application/json", headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)


def make_script(project: Any, title: str, topic: str = "", *, age_minutes: int = 0) -> Script:
    script = Script.objects.create(
        project=project,
        title=title,
        topic=topic or title,
        brief={"platform": "youtube", "duration_seconds": 60, "words_per_minute": 150},
        status=ScriptStatus.READY,
    )
    Script.objects.filter(pk=script.pk).update(
        created_at=timezone.now() - timedelta(minutes=age_minutes)
    )
    return script


# ---------------------------------------------------------------------------------------------
# GET /api/v1/projects/{id}/scripts


def test_scripts_are_listed_newest_first_in_pages(team: Any) -> None:
    for n in range(5):
        make_script(team.project, f"Script {n}", age_minutes=10 - n)
    caller = Caller(team.viewer)

    first = caller.get(f"/api/v1/projects/{team.project.pk}/scripts?page_size=2")
    assert first.status_code == 200, first.content
    body = first.json()
    assert [s["title"] for s in body["items"]] == ["Script 4", "Script 3"]
    assert (body["count"], body["page"], body["page_size"], body["pages"]) == (5, 1, 2, 3)

    last = caller.get(f"/api/v1/projects/{team.project.pk}/scripts?page_size=2&page=3").json()
    assert [s["title"] for s in last["items"]] == ["Script 0"]
    beyond = caller.get(f"/api/v1/projects/{team.project.pk}/scripts?page_size=2&page=9").json()
    assert beyond["items"] == [] and beyond["count"] == 5


def test_search_matches_title_or_topic(team: Any) -> None:
    make_script(team.project, "Tides explained", "Why the sea rises")
    make_script(team.project, "Coffee at dawn", "How a barista starts the day with TIDES")
    make_script(team.project, "Mountain bikes", "Gears and brakes")
    caller = Caller(team.editor)

    found = caller.get(f"/api/v1/projects/{team.project.pk}/scripts?q=tides").json()
    assert sorted(s["title"] for s in found["items"]) == ["Coffee at dawn", "Tides explained"]
    assert found["count"] == 2
    none = caller.get(f"/api/v1/projects/{team.project.pk}/scripts?q=volcano").json()
    assert none["items"] == [] and none["count"] == 0


def test_page_size_is_capped_and_bad_pages_refused(team: Any) -> None:
    caller = Caller(team.viewer)
    base = f"/api/v1/projects/{team.project.pk}/scripts"
    for query in ("page_size=101", "page_size=0", "page=0", "page=abc"):
        response = caller.get(f"{base}?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "invalid_request"
    assert caller.get(f"{base}?page_size=100").status_code == 200


def test_only_members_see_a_projects_scripts(team: Any, make_project: Any) -> None:
    make_script(team.project, "Secret plan")
    other = make_project(owner=team.outsider)
    make_script(other, "Not theirs")
    response = Caller(team.outsider).get(f"/api/v1/projects/{team.project.pk}/scripts")
    assert response.status_code == 404
    assert b"Secret plan" not in response.content
    assert Client().get(f"/api/v1/projects/{team.project.pk}/scripts").status_code == 401
    mine = Caller(team.viewer).get(f"/api/v1/projects/{team.project.pk}/scripts").json()
    assert [s["title"] for s in mine["items"]] == ["Secret plan"]


def test_a_script_being_written_carries_its_progress(team: Any) -> None:
    script = make_script(team.project, "Writing now")
    run = Run.objects.create(
        project=team.project,
        kind="script",
        status=RunStatus.RUNNING,
        expected_tokens=200,
        output_tokens=80,
        created_by=team.editor,
    )
    Script.objects.filter(pk=script.pk).update(status=ScriptStatus.GENERATING, last_run_id=run.pk)
    done = make_script(team.project, "Finished")

    items = Caller(team.viewer).get(f"/api/v1/projects/{team.project.pk}/scripts").json()["items"]
    by_id = {item["id"]: item for item in items}
    progress = by_id[script.pk]["progress"]
    assert progress == {
        "run_id": str(run.pk),
        "status": "running",
        "output_tokens": 80,
        "expected_tokens": 200,
        "percent": 40,
    }
    assert by_id[done.pk]["progress"] is None


# ---------------------------------------------------------------------------------------------
# GET /api/v1/scripts/{id}/export


@pytest.fixture
def written(team: Any) -> Script:
    script = make_script(team.project, "Tides explained")
    script_version_add(script, text=SCRIPT_TEXT, source=VersionSource.EDIT, user=team.editor)
    script_version_add(
        script, text=SCRIPT_TEXT.replace("look up", "look up at the moon"), source="edit"
    )
    script.refresh_from_db()
    return script


def test_exports_by_format(team: Any, written: Script) -> None:
    caller = Caller(team.viewer)
    base = f"/api/v1/scripts/{written.pk}/export"

    md = caller.get(f"{base}?format=md")
    assert md.status_code == 200
    assert md["Content-Type"].startswith("text/markdown")
    assert md["Content-Disposition"] == 'attachment; filename="tides-explained-v2.md"'
    assert md.content.decode().startswith("# Tides explained")
    assert "look up at the moon" in md.content.decode()

    assert caller.get(base).content == md.content

    txt = caller.get(f"{base}?format=txt")
    assert txt["Content-Type"].startswith("text/plain")
    assert "[0:00] Hook" in txt.content.decode()

    vtt = caller.get(f"{base}?format=vtt")
    assert vtt["Content-Type"].startswith("text/vtt")
    captions = webvtt.from_buffer(io.StringIO(vtt.content.decode()))
    assert captions.captions and all("Hook" not in c.text for c in captions.captions)

    srt = caller.get(f"{base}?format=srt")
    assert srt["Content-Type"].startswith("application/x-subrip")
    assert srt.content.decode().startswith("1\n")

    sheet = caller.get(f"{base}?format=csv")
    assert sheet["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(sheet.content.decode())))
    assert rows[0][:2] == ["Section", "Start"]
    assert [row[0] for row in rows[1:]] == ["Hook", "Body", "Close"]


def test_export_of_an_earlier_version(team: Any, written: Script) -> None:
    response = Caller(team.viewer).get(f"/api/v1/scripts/{written.pk}/export?format=md&version=1")
    assert response.status_code == 200
    assert "look up at the moon" not in response.content.decode()
    assert "-v1.md" in response["Content-Disposition"]
    missing = Caller(team.viewer).get(f"/api/v1/scripts/{written.pk}/export?version=7")
    assert missing.status_code == 404


def test_export_refusals(team: Any, written: Script) -> None:
    caller = Caller(team.viewer)
    bad = caller.get(f"/api/v1/scripts/{written.pk}/export?format=docx")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["field"] == "format"
    assert Caller(team.outsider).get(f"/api/v1/scripts/{written.pk}/export").status_code == 404
    empty = make_script(team.project, "Nothing yet")
    response = caller.get(f"/api/v1/scripts/{empty.pk}/export?format=txt")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_version"


# ---------------------------------------------------------------------------------------------
# Personas


def _persona(team: Any, name: str = "Tour guide") -> Persona:
    return Persona.objects.create(project=team.project, name=name, voice="warm", do=["smile"])


def test_members_read_personas(team: Any) -> None:
    persona = _persona(team)
    caller = Caller(team.viewer)
    listed = caller.get(f"/api/v1/projects/{team.project.pk}/personas")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()] == ["Tour guide"]
    one = caller.get(f"/api/v1/projects/{team.project.pk}/personas/{persona.pk}").json()
    assert (one["voice"], one["do"], one["dont"]) == ("warm", ["smile"], [])


def test_editors_create_change_and_delete_personas(team: Any) -> None:
    caller = Caller(team.editor)
    base = f"/api/v1/projects/{team.project.pk}/personas"
    created = caller.post(
        base,
        {"name": "  Night   owl ", "voice": "low, calm", "do": ["pause"], "dont": ["shout"]},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["do"], body["dont"]) == ("Night owl", ["pause"], ["shout"])
    persona = Persona.objects.get(pk=body["id"])
    assert persona.project_id == team.project.pk and persona.created_by == team.editor

    changed = caller.patch(f"{base}/{persona.pk}", {"audience": "insomniacs"})
    assert changed.status_code == 200, changed.content
    persona.refresh_from_db()
    assert (persona.audience, persona.voice, persona.do) == ("insomniacs", "low, calm", ["pause"])

    duplicate = caller.post(base, {"name": "night OWL"})
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["details"][0]["field"] == "name"

    assert caller.delete(f"{base}/{persona.pk}").status_code == 204
    assert not Persona.objects.filter(pk=persona.pk).exists()
    assert caller.get(f"{base}/{persona.pk}").status_code == 404


def test_viewers_cannot_write_personas_and_strangers_see_none(team: Any) -> None:
    persona = _persona(team)
    base = f"/api/v1/projects/{team.project.pk}/personas"
    viewer = Caller(team.viewer)
    assert viewer.post(base, {"name": "Mine"}).status_code == 403
    assert viewer.patch(f"{base}/{persona.pk}", {"voice": "loud"}).status_code == 403
    assert viewer.delete(f"{base}/{persona.pk}").status_code == 403
    outsider = Caller(team.outsider)
    assert outsider.get(base).status_code == 404
    assert outsider.get(f"{base}/{persona.pk}").status_code == 404
    assert outsider.post(base, {"name": "Mine"}).status_code == 404
    assert outsider.delete(f"{base}/{persona.pk}").status_code == 404
    persona.refresh_from_db()
    assert persona.voice == "warm"
    assert Persona.objects.count() == 1


def test_persona_input_is_checked(team: Any) -> None:
    caller = Caller(team.editor)
    base = f"/api/v1/projects/{team.project.pk}/personas"
    cases = [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "Ok", "do": ["a"] * 21}, "do"),
        ({"name": "Ok", "dont": ["x" * 201]}, "dont.0"),
        ({"name": "Ok", "mood": "sunny"}, "mood"),
    ]
    for payload, field in cases:
        response = caller.post(base, payload)
        assert response.status_code == 400, payload
        assert field in [d["field"] for d in response.json()["error"]["details"]], payload
    assert Persona.objects.count() == 0
