"""The project API: shapes, the error contract, correlation ids, auth by token or session."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from aura_site.accounts.tokens import token_create
from aura_site.projects.models import Membership, Project, Role

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def ada(make_user: Any) -> Any:
    return make_user("ada")


@pytest.fixture
def bearer(ada: Any) -> dict[str, str]:
    _, raw = token_create(user=ada, name="tests")
    return {"Authorization": f"Bearer {raw}"}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["correlation_id"] == response["X-Request-ID"]
    return error


def test_create_and_list(
    client: Client, bearer: dict[str, str], make_project: Any, make_user: Any
) -> None:
    other = make_project(owner=make_user("zed"), name="Not mine")
    created = client.post(
        "/api/v1/projects",
        {"name": " Harbour film ", "description": "pier"},
        content_type="application/json",
        headers=bearer,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Harbour film" and body["role"] == "owner"
    listed = client.get("/api/v1/projects", headers=bearer)
    assert listed.status_code == 200
    assert [(p["id"], p["role"]) for p in listed.json()] == [(body["id"], "owner")]
    assert other.pk not in [p["id"] for p in listed.json()]


def test_add_member_by_email(
    client: Client, bearer: dict[str, str], ada: Any, make_project: Any, make_user: Any
) -> None:
    project = make_project(owner=ada)
    ben = make_user("ben")
    response = client.post(
        f"/api/v1/projects/{project.pk}/members",
        {"email": "ben@example.com", "role": "editor"},
        content_type="application/json",
        headers=bearer,
    )
    assert response.status_code == 201
    assert response.json()["user"] == {"id": ben.pk, "username": "ben"}
    assert Membership.objects.get(project=project, user=ben).role == Role.EDITOR
    again = client.post(
        f"/api/v1/projects/{project.pk}/members",
        {"username": "ben", "role": "viewer"},
        content_type="application/json",
        headers=bearer,
    )
    _error(again, 409, "already_member")
    ghost = client.post(
        f"/api/v1/projects/{project.pk}/members",
        {"username": "ghost", "role": "viewer"},
        content_type="application/json",
        headers=bearer,
    )
    error = _error(ghost, 400, "unknown_user")
    assert error["details"][0]["field"] == "username"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"description": "no name"}, "name"),
        ({"name": "ok", "owner": "me"}, "owner"),
    ],
)
def test_bad_project_input_names_the_field(
    client: Client, bearer: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/api/v1/projects", body, content_type="application/json", headers=bearer
    )
    error = _error(response, 400, "invalid_request")
    assert field in [d["field"] for d in error["details"]]
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"role": "viewer"},
        {"username": "ben", "email": "ben@example.com", "role": "viewer"},
        {"username": "ben", "role": "admin"},
        {"username": "ben", "role": "viewer", "extra": 1},
    ],
)
def test_bad_member_input(
    client: Client,
    bearer: dict[str, str],
    ada: Any,
    make_project: Any,
    make_user: Any,
    body: dict[str, Any],
) -> None:
    project = make_project(owner=ada)
    make_user("ben")
    response = client.post(
        f"/api/v1/projects/{project.pk}/members",
        body,
        content_type="application/json",
        headers=bearer,
    )
    _error(response, 400, "invalid_request")
    assert project.memberships.count() == 1


def test_malformed_json(client: Client, bearer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/projects", "{not json", content_type="application/json", headers=bearer
    )
    assert "parse" in _error(response, 400, "bad_request")["message"]


def test_correlation_id_is_echoed_or_made(client: Client, bearer: dict[str, str]) -> None:
    sent = client.get("/api/v1/projects", headers={**bearer, "X-Request-ID": "req-42"})
    assert sent["X-Request-ID"] == "req-42"
    made = client.get("/api/v1/projects", headers={**bearer, "X-Request-ID": "bad value\n"})
    assert made["X-Request-ID"] != "bad value" and len(made["X-Request-ID"]) == 32
    error = client.get("/api/v1/projects", headers={"X-Request-ID": "trace-7"})
    assert _error(error, 401, "unauthenticated")["correlation_id"] == "trace-7"


def test_unauthenticated_is_401_not_a_redirect(client: Client) -> None:
    response = client.get("/api/v1/projects")
    _error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    bad = client.get(
        "/api/v1/projects", headers={"Authorization": "Bearer aura_00000000_" + "x" * 43}
    )
    _error(bad, 401, "unauthenticated")


def test_a_bad_token_is_refused_even_with_a_session(client: Client, ada: Any) -> None:
    client.force_login(ada)
    response = client.get("/api/v1/projects", headers={"Authorization": "Bearer nope"})
    _error(response, 401, "unauthenticated")


def test_session_auth_needs_csrf_for_writes(ada: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(ada)
    assert client.get("/api/v1/projects").status_code == 200
    refused = client.post("/api/v1/projects", {"name": "x"}, content_type="application/json")
    _error(refused, 403, "csrf_failed")
    client.get("/accounts/")
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        "/api/v1/projects",
        {"name": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 201


def test_bearer_writes_need_no_csrf(bearer: dict[str, str]) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/projects", {"name": "x"}, content_type="application/json", headers=bearer
    )
    assert response.status_code == 201


def test_unknown_route_and_method(client: Client, bearer: dict[str, str]) -> None:
    _error(client.get("/api/v1/nothing-here", headers=bearer), 404, "not_found")
    wrong = client.delete("/api/v1/projects", headers=bearer)
    _error(wrong, 405, "method_not_allowed")
    assert "GET" in wrong["Allow"]


def test_openapi_document(client: Client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert {"/api/v1/projects", "/api/v1/projects/{project_id}/members"} <= set(document["paths"])
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    member_in = document["components"]["schemas"]["MemberIn"]
    assert member_in.get("additionalProperties") is False


@pytest.mark.parametrize(
    ("exc", "status", "code", "retry_after"),
    [
        ("api_429", 429, "rate_limited", "3"),
        ("throttled", 429, "rate_limited", "7"),
        ("api_503", 503, "no_provider", None),
        ("http_409", 409, "conflict", None),
        ("denied", 403, "forbidden", None),
        ("django_invalid", 400, "invalid_request", None),
        ("crash", 500, "internal_error", None),
    ],
)
def test_every_error_takes_the_same_shape(
    rf: Any, exc: str, status: int, code: str, retry_after: str | None
) -> None:
    from django.core.exceptions import PermissionDenied, ValidationError
    from ninja.errors import HttpError, Throttled

    from aura_site.api import api
    from aura_site.api_errors import ApiError

    errors: dict[str, Exception] = {
        "api_429": ApiError(429, "rate_limited", "Slow down.", retry_after=2.2),
        "throttled": Throttled(wait=7),
        "api_503": ApiError(503, "no_provider", "No provider can serve this request."),
        "http_409": HttpError(409, "Already there."),
        "denied": PermissionDenied("This needs the owner role in the project."),
        "django_invalid": ValidationError({"topic": ["Too short."]}),
        "crash": RuntimeError("secret detail"),
    }
    request = rf.get("/api/v1/anything", headers={"X-Request-ID": "abc"})
    response = api.on_exception(request, errors[exc])
    assert response.status_code == status
    error = json.loads(response.content)["error"]
    assert error["code"] == code and error["correlation_id"] == "abc" and error["message"]
    assert response.get("Retry-After") == retry_after
    if exc == "django_invalid":
        assert error["details"] == [{"field": "topic", "message": "Too short.", "type": "invalid"}]
    if exc == "crash":
        assert "secret detail" not in response.content.decode()


def test_error_response_for_plain_views(rf: Any) -> None:
    from aura_site.api_errors import error_response

    request = rf.get("/api/v1/runs/1/events")
    response = error_response(request, 503, message="No provider is configured.", retry_after=1.5)
    body = json.loads(response.content)["error"]
    assert body["code"] == "unavailable" and body["correlation_id"] == response["X-Request-ID"]
    assert response["Retry-After"] == "2"
