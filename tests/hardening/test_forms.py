"""Every form of the studio refuses oversized, malformed and wrong-type input: a 400 page whose
form names the field at fault, and nothing saved (no row, no run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

pytestmark = pytest.mark.django_db

HUGE = "9" * 30
"""An integer no database column holds."""

HIDDEN = {"shot_roundtable", "shot_number"}
"""Hidden fields: their errors are told as the form's own (above it)."""


@dataclass(frozen=True)
class Form:
    name: str
    path: Callable[[Any], str]
    valid: dict[str, Any]
    anonymous: bool = False


FORMS = {
    "project": Form("project", lambda p: "/projects/new/", {"name": "Harbour", "description": ""}),
    "series": Form("series", lambda p: f"/projects/{p.pk}/series/new/", {"name": "Tides"}),
    "character": Form("character", lambda p: f"/projects/{p.pk}/characters/new/", {"name": "Ada"}),
    "location": Form("location", lambda p: f"/projects/{p.pk}/locations/new/", {"name": "Pier"}),
    "script": Form(
        "script",
        lambda p: f"/projects/{p.pk}/scripts/new/",
        {
            "topic": "The harbour at dawn",
            "platform": "youtube",
            "duration_seconds": "60",
            "provider": "auto",
        },
    ),
    "roundtable": Form(
        "roundtable",
        lambda p: f"/projects/{p.pk}/roundtables/new/",
        {
            "brief": "A harbour at dawn, slow and quiet",
            "platform": "tiktok",
            "provider": "auto",
            "debate": "auto",
        },
    ),
    "video": Form(
        "video",
        lambda p: f"/projects/{p.pk}/videos/",
        {"prompt": "A harbour at dawn", "model": "ltx", "aspect_ratio": "16:9"},
    ),
    "signup": Form(
        "signup",
        lambda p: "/accounts/signup/",
        {
            "username": "grace",
            "email": "grace@example.com",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
        anonymous=True,
    ),
}

# (form, field, value): each is one hostile value put into an otherwise valid submission.
CASES = [
    ("project", "name", "x" * 121),
    ("project", "name", "   "),
    ("project", "name", "Harbour\x00"),
    ("project", "description", "x" * 5001),
    ("series", "name", "x" * 121),
    ("series", "description", "x" * 5001),
    ("character", "name", "Ada\x00"),
    ("character", "look", "x" * 5001),
    ("character", "voice", "x" * 5001),
    ("location", "mood", "x" * 201),
    ("location", "description", "x" * 5001),
    ("script", "topic", "x" * 501),
    ("script", "topic", "ab"),
    ("script", "topic", "dawn\x00"),
    ("script", "duration_seconds", "sixty"),
    ("script", "duration_seconds", HUGE),
    ("script", "duration_seconds", "-5"),
    ("script", "platform", "myspace"),
    ("script", "persona", HUGE),
    ("script", "persona", "not-an-id"),
    ("script", "template", "x" * 300),
    ("script", "provider", "openai; drop table"),
    ("script", "model", "x" * 121),
    ("roundtable", "brief", "x" * 5001),
    ("roundtable", "brief", "short"),
    ("roundtable", "duration_seconds", HUGE),
    ("roundtable", "duration_seconds", "1.5"),
    ("roundtable", "platform", "vine"),
    ("roundtable", "series", HUGE),
    ("roundtable", "characters", HUGE),
    ("roundtable", "debate", "sometimes"),
    ("video", "prompt", "x" * 2001),
    ("video", "prompt", "\x00\x00\x00"),
    ("video", "model", "sora"),
    ("video", "duration_seconds", "NaN"),
    ("video", "duration_seconds", HUGE),
    ("video", "duration_seconds", "Infinity"),
    ("video", "aspect_ratio", "4:3"),
    ("video", "seed", HUGE),
    ("video", "seed", "-1"),
    ("video", "shot_roundtable", HUGE),
    ("video", "shot_number", HUGE),
    ("video", "negative_prompt", "x" * 2001),
    ("signup", "username", "x" * 151),
    ("signup", "username", "bad name!"),
    ("signup", "email", "not-an-email"),
    ("signup", "email", "x" * 250 + "@example.com"),
]


def _counts() -> dict[str, int]:
    from django.contrib.auth import get_user_model

    from aura_site.projects.models import Character, Location, Project, Series
    from generation.runs.models import Run
    from generation.scripts.models import Script
    from roundtable.models import Session
    from videos.models import VideoJob

    models: list[Any] = [
        get_user_model(),
        Project,
        Series,
        Character,
        Location,
        Script,
        Session,
        VideoJob,
        Run,
    ]
    return {str(m.__name__): int(m._default_manager.count()) for m in models}


@pytest.mark.parametrize(
    ("form_name", "name", "value"),
    CASES,
    ids=[f"{form}-{name}-{value[:12]!r}" for form, name, value in CASES],
)
def test_form_refuses(
    form_name: str, name: str, value: str, make_user: Any, make_project: Any
) -> None:
    form = FORMS[form_name]
    owner = make_user("owner")
    project = make_project(owner=owner)
    client = Client()
    if not form.anonymous:
        client.force_login(owner)
    before = _counts()
    response = client.post(form.path(project), {**form.valid, name: value})
    assert response.status_code == 400, response.content[:500]
    errors = response.context["form"].errors
    assert errors.get(name), errors
    shown = errors["__all__"] if name in HIDDEN else errors[name]
    page = response.content.decode()
    for message in shown:
        assert message.strip() and escape(message) in page, message
    assert _counts() == before
