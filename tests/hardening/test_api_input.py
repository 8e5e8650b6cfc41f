"""The hostile API inputs the fuzzer found, pinned: ids no database column holds and non-finite
numbers are refused as bad input (400 with the field), never sent on to a query (a 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from aura_site.accounts.tokens import token_create

pytestmark = pytest.mark.django_db

HUGE = 2**63
"""One past the largest 64-bit signed integer."""


@pytest.fixture
def owner(make_user: Any) -> Any:
    return make_user("owner")


@pytest.fixture
def project(make_project: Any, owner: Any) -> Any:
    return make_project(owner=owner)


@pytest.fixture
def api(owner: Any) -> Client:
    _, raw = token_create(user=owner, name="tests")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in [detail["field"] for detail in error["details"]], error


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/api/v1/scripts/{HUGE}", "script_id"),
        (f"/api/v1/roundtables/{HUGE}", "session_id"),
        (f"/api/v1/videos/{HUGE}", "job_id"),
        (f"/api/v1/projects/{HUGE}/videos", "project_id"),
        (f"/api/v1/projects/{HUGE}/roundtables", "project_id"),
    ],
)
def test_huge_path_id(api: Client, path: str, field: str) -> None:
    _refused(api.get(path), field)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/scripts/quote", {"topic": "Harbour", "project": HUGE}, "project"),
        ("/api/v1/scripts/quote", {"topic": "Harbour", "persona": HUGE}, "persona"),
        (
            "/api/v1/roundtables/quote",
            {"brief": "A harbour at dawn", "platform": "tiktok", "characters": [HUGE]},
            "characters.0",
        ),
        (
            "/api/v1/roundtables/quote",
            {"brief": "A harbour at dawn", "platform": "tiktok", "series": HUGE},
            "series",
        ),
        (
            "/api/v1/videos/quote",
            {"prompt": "A harbour", "model": "ltx", "shot": {"roundtable": HUGE, "number": 1}},
            "shot.roundtable",
        ),
        (
            "/api/v1/videos/quote",
            {"prompt": "A harbour", "model": "ltx", "shot": {"roundtable": 1, "number": HUGE}},
            "shot.number",
        ),
    ],
)
def test_huge_body_id(
    api: Client, project: Any, path: str, body: dict[str, Any], field: str
) -> None:
    payload = {"project": project.pk, **body}
    _refused(api.post(path, payload, content_type="application/json"), field)


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_non_finite_duration(api: Client, project: Any, value: str) -> None:
    body = json.dumps({"project": project.pk, "prompt": "A harbour", "model": "ltx"})
    raw = body[:-1] + f', "duration_seconds": {value}}}'
    _refused(
        api.post("/api/v1/videos/quote", raw, content_type="application/json"), "duration_seconds"
    )


def test_huge_after(api: Client, owner: Any, project: Any) -> None:
    from generation.runs.models import Run

    run = Run.objects.create(project=project, kind="script", created_by=owner)
    _refused(api.get(f"/api/v1/runs/{run.pk}/events?after={HUGE}"), "after")
