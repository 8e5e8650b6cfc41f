"""Azure OpenAI against a loopback server speaking its streaming dialect."""

from __future__ import annotations

import pytest

from generation.providers.azure import AzureOpenAIProvider
from generation.providers.base import ErrorKind
from tests.fakes.providers import azure_stream, openai_error

from .conftest import collect


def make(fake, client, **options):
    return AzureOpenAIProvider(
        "azure",
        {
            "api_key": "azure-key-5678",
            "endpoint": fake.base_url,
            "deployment": "studio-mini",
            "api_version": "2024-10-21",
            **options,
        },
        client=client,
    )


async def test_deployment_url_api_version_and_api_key_header(fake, client):
    fake.push(azure_stream(["Col", "or"], usage=(11, 2)))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.text == "Color"
    assert outcome.finish is not None
    assert outcome.finish.usage.input_tokens == 11
    assert outcome.finish.usage.reported is True
    assert outcome.finish.model == "gpt-4o-mini-2024-07-18"
    request = fake.requests[0]
    assert request.path == "/openai/deployments/studio-mini/chat/completions"
    assert request.query == {"api-version": ["2024-10-21"]}
    assert request.headers["api-key"] == "azure-key-5678"
    assert "authorization" not in request.headers


async def test_v1_form_without_api_version(fake, client):
    fake.push(azure_stream(["ok"]))
    outcome = await collect(make(fake, client, api_version=""))
    assert outcome.error is None
    request = fake.requests[0]
    assert request.path == "/openai/v1/chat/completions"
    assert request.query == {}
    assert request.json()["model"] == "studio-mini"


async def test_annotation_chunks_without_delta_after_the_finish_are_ignored(fake, client):
    fake.push(azure_stream(["a", "b"], annotation_after=True))
    outcome = await collect(make(fake, client))
    assert outcome.texts == ["a", "b"]
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "stop"


async def test_filter_system_error_does_not_lose_the_text(fake, client):
    fake.push(azure_stream(["a", "b"], filter_error=True))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.text == "ab"


async def test_content_filter_ending_after_text(fake, client):
    fake.push(azure_stream(["Some"], finish="content_filter"))
    outcome = await collect(make(fake, client))
    assert outcome.text == "Some"
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "content_filter"


async def test_content_filter_ending_without_text_is_an_error(fake, client):
    fake.push(azure_stream([], finish="content_filter"))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.CONTENT_FILTER
    assert outcome.error.retryable is False


async def test_prompt_filtered_is_a_400_content_filter(fake, client):
    fake.push(
        openai_error(
            400, "The response was filtered due to the prompt", type=None, code="content_filter"
        )
    )
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.CONTENT_FILTER


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, ErrorKind.AUTH),
        (404, ErrorKind.BAD_REQUEST),
        (429, ErrorKind.RATE_LIMIT),
        (500, ErrorKind.UNAVAILABLE),
    ],
)
async def test_http_errors(fake, client, status, kind):
    fake.push(
        openai_error(status, "nope", headers={"retry-after-ms": "250"} if status == 429 else None)
    )
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == kind
    if status == 429:
        assert outcome.error.retry_after == 0.25


async def test_not_configured_without_deployment(client):
    provider = AzureOpenAIProvider(
        "azure", {"api_key": "k", "endpoint": "https://x.openai.azure.com"}, client=client
    )
    assert provider.is_configured() is False
