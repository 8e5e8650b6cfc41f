"""Schemathesis against /api/v1/openapi.json through the studio's ASGI application in-process,
as an owner, an editor, a viewer, a non-member, a bad token and no token: no 5xx, every response
in its schema, every invalid request refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from ninja.responses import NinjaJSONEncoder
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
]


def _document() -> dict[str, Any]:
    """The document ``/api/v1/openapi.json`` serves (``test_served_document`` holds them equal);
    built without a request, as collection runs before the test database exists."""
    from aura_site.api import api

    return json.loads(json.dumps(api.get_openapi_schema(), cls=NinjaJSONEncoder))


def _schema() -> Any:
    loaded = schemathesis.openapi.from_dict(_document())
    loaded.location = "/api/v1/openapi.json"
    return loaded


schema = _schema()


def test_served_document(client: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json() == _document()


@pytest.fixture
def asgi_app() -> Any:
    """The studio's ASGI application for HTTP, made after the test's settings apply (its
    middleware reads them once, when it is made)."""
    from channels.routing import ProtocolTypeRouter

    from aura_site.asgi_handler import StudioASGIHandler

    return ProtocolTypeRouter({"http": StudioASGIHandler()})


@pytest.fixture
def studio(make_user: Any, make_project: Any, add_member: Any, asgi_app: Any) -> dict[str, Any]:
    """A project with an owner, an editor and a viewer, and a user of no project, each with a
    bearer token (a bad token and none are tried too); and one script,
    roundtable session and video job the owner started through the API, for cases to aim at."""
    from schemathesis.python import asgi

    from aura_site.accounts.tokens import token_create

    owner, editor, viewer, outsider = make_user(), make_user(), make_user(), make_user()
    project = make_project(owner=owner)
    add_member(project, editor, "editor")
    add_member(project, viewer, "viewer")
    tokens = {
        role: token_create(user=user, name="fuzz")[1]
        for role, user in (
            ("owner", owner),
            ("editor", editor),
            ("viewer", viewer),
            ("outsider", outsider),
        )
    }
    with asgi.get_client(asgi_app) as http:
        http.headers["Authorization"] = f"Bearer {tokens['owner']}"
        base = "http://testserver/api/v1"
        script = http.post(
            f"{base}/scripts", json={"project": project.pk, "topic": "Harbour at dawn"}
        )
        roundtable = http.post(
            f"{base}/roundtables",
            json={"project": project.pk, "brief": "A harbour at dawn, slow", "platform": "tiktok"},
        )
        video = http.post(
            f"{base}/videos",
            json={"project": project.pk, "prompt": "A harbour at dawn", "model": "ltx"},
        )
    assert (script.status_code, roundtable.status_code, video.status_code) == (200, 202, 202), (
        script.text,
        roundtable.text,
        video.text,
    )
    return {
        "tokens": tokens,
        "ids": {
            "project_id": project.pk,
            "run_id": script.json()["id"],
            "script_id": script.json()["result"]["script_id"],
            "session_id": roundtable.json()["id"],
            "job_id": video.json()["id"],
        },
    }


@pytest.fixture(autouse=True)
def _runs_end() -> Any:
    """Runs the fuzzer started, and the event writer of the loop they ran on, end before the
    test database is flushed (and before the interpreter exits, which would leave the writer's
    thread pool shut under it)."""
    yield
    from generation.runs import events, executions, launch

    loop = launch._live_server_loop()
    if loop is None:
        return

    async def stop() -> None:
        tasks = executions.held_tasks()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        writer = events._writers.pop(loop, None)
        if writer is not None:
            writer._task.cancel()
            await asyncio.wait([writer._task], timeout=5)

    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=20)


ROLES = ["owner", "editor", "viewer", "outsider", "bad token", "anonymous"]


def _credentials(tokens: dict[str, str], role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    token = tokens.get(role, "not-a-token")
    return {"Authorization": f"Bearer {token}"}


def _negative(case: Any) -> bool:
    """Whether schemathesis made ``case`` to break the schema (aiming it could make it valid)."""
    return case.meta is not None and case.meta.generation.mode.is_negative


def _aim(case: Any, ids: dict[str, Any]) -> None:
    """Point a case at the studio's objects where it names one."""
    for name in case.path_parameters or {}:
        if name in ids:
            case.path_parameters[name] = ids[name]
    if isinstance(case.body, dict):
        if "project" in case.body:
            case.body["project"] = ids["project_id"]
        if case.path.startswith("/api/v1/videos") and "model" in case.body:
            case.body["model"] = "ltx"


@schema.parametrize()
@schema.given(role=st.sampled_from(ROLES), aimed=st.booleans())
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_fuzz(case: Any, role: str, aimed: bool, studio: dict[str, Any], asgi_app: Any) -> None:
    if aimed and not _negative(case):
        _aim(case, studio["ids"])
    case.call_and_validate(
        headers=_credentials(studio["tokens"], role),
        checks=CHECKS,
        app=asgi_app,
    )
