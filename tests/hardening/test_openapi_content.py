"""What the served OpenAPI document promises: the streams are ``text/event-stream`` with each
event's data schema and their error responses, platforms and providers are enums, exports list
their file types."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from generation.scripts.constants import PLATFORMS

pytestmark = pytest.mark.django_db


@pytest.fixture
def document() -> dict[str, Any]:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/"), ref
    return dict(document["components"]["schemas"][ref.rsplit("/", 1)[1]])


def _events(document: dict[str, Any], path: str, method: str) -> dict[str, dict[str, Any]]:
    operation = document["paths"][path][method]
    ok = operation["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]
    items = ok["content"]["text/event-stream"]["itemSchema"]["anyOf"]
    events = {}
    for item in items:
        assert set(item["required"]) == {"id", "event", "data"}
        data = item["properties"]["data"]
        assert (data["type"], data["contentMediaType"]) == ("string", "application/json")
        if "const" in item["properties"]["event"]:
            name = item["properties"]["event"]["const"]
            events[name] = _resolve(document, data["contentSchema"]["$ref"])
    return events


@pytest.mark.parametrize(
    ("path", "method", "errors"),
    [
        ("/api/v1/scripts/stream", "post", {"400", "401", "403", "404", "409", "429", "503"}),
        ("/api/v1/runs/{run_id}/events", "get", {"400", "401", "404"}),
        ("/api/v1/roundtables/stream", "post", {"400", "401", "403", "404", "429"}),
    ],
)
def test_streams_are_event_streams_with_their_errors(
    document: dict[str, Any], path: str, method: str, errors: set[str]
) -> None:
    events = _events(document, path, method)
    assert {"done", "cancelled", "error"} <= set(events)
    responses = document["paths"][path][method]["responses"]
    assert set(responses) - {"200"} == errors
    for status in errors:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema["$ref"] == "#/components/schemas/ErrorResponse"


def test_script_stream_event_schemas(document: dict[str, Any]) -> None:
    events = _events(document, "/api/v1/scripts/stream", "post")
    assert set(events) == {
        "run",
        "progress",
        "chunk",
        "provider_switch",
        "provider_retry",
        "done",
        "cancelled",
        "error",
    }
    assert set(events["chunk"]["required"]) == {
        "content",
        "tokens",
        "cost",
        "tokens_per_second",
        "provider",
    }
    assert {"from", "to", "reason", "skipped", "summary"} <= set(
        events["provider_switch"]["properties"]
    )
    assert {"provider", "code", "retry_in_seconds", "retry", "summary"} <= set(
        events["provider_retry"]["properties"]
    )
    assert {"script_id", "validation", "text", "usage", "ttft_ms", "notice"} <= set(
        events["done"]["properties"]
    )
    assert {"code", "message", "correlation_id", "text"} <= set(events["error"]["properties"])
    usage = events["cancelled"]["properties"]["usage"]["$ref"]
    assert set(_resolve(document, usage)["properties"]) == {
        "input_tokens",
        "output_tokens",
        "reported",
    }


def test_roundtable_stream_lists_its_own_events(document: dict[str, Any]) -> None:
    events = _events(document, "/api/v1/roundtables/stream", "post")
    assert {"agent_chunk", "debate_message", "synthesis_complete", "shots_complete"} <= set(events)
    assert "session_id" in events["done"]["properties"]


def test_platform_and_provider_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    script = schemas["ScriptRequest"]["properties"]
    assert script["platform"]["enum"] == [p.slug for p in PLATFORMS]
    assert script["provider"]["enum"] == ["auto", *settings.LLM_PROVIDERS]
    roundtable = schemas["RoundtableRequest"]["properties"]
    assert roundtable["provider"]["enum"] == ["auto", *settings.LLM_PROVIDERS]
    assert set(roundtable["platform"]["enum"]) == {
        "tiktok",
        "instagram_reels",
        "youtube_shorts",
        "youtube",
    }
    assert schemas["AgentChoice"]["properties"]["provider"]["enum"][0] == "auto"
    assert schemas["ProviderOut"]["properties"]["name"]["enum"] == list(settings.LLM_PROVIDERS)


def test_exports_declare_their_file_types(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/scripts/{script_id}/export"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {
        "text/markdown",
        "text/plain",
        "application/x-subrip",
        "text/vtt",
        "text/csv",
    }
    formats = next(p for p in operation["parameters"] if p["name"] == "format")
    assert formats["schema"]["enum"] == ["md", "txt", "srt", "vtt", "csv"]


def test_new_resources_are_documented(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert set(paths["/api/v1/projects/{project_id}/scripts"]) == {"get"}
    parameters = {
        p["name"]: p for p in paths["/api/v1/projects/{project_id}/scripts"]["get"]["parameters"]
    }
    assert parameters["page_size"]["schema"]["maximum"] == 100
    assert {"q", "page"} <= set(parameters)
    for base in ("personas", "series", "characters", "locations"):
        collection = f"/api/v1/projects/{{project_id}}/{base}"
        assert set(paths[collection]) == {"get", "post"}
        item = next(p for p in paths if p.startswith(collection + "/{"))
        assert set(paths[item]) == {"get", "patch", "delete"}
        assert "403" in paths[item]["delete"]["responses"]


def test_a_runs_attempts_are_typed(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    attempts = schemas["RunOut"]["properties"]["attempts"]
    assert attempts["items"]["$ref"] == "#/components/schemas/RunAttemptOut"
    attempt = schemas["RunAttemptOut"]
    assert {"number", "provider"} <= set(attempt["required"])
    assert "revision" in attempt["description"]
