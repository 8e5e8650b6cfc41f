"""Azure OpenAI chat completions, streamed (../shared/PROTOCOLS.md §2).

Classic form: ``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V``
with an ``api-key`` header. When ``api_version`` is empty or ``v1``, the v1 form:
``POST {endpoint}/openai/v1/chat/completions`` with ``model`` = the deployment name.

The stream is OpenAI's with Azure's additions, all handled by ``ChatCompletionStream``: a first
prompt-annotation chunk (``choices: []``), annotation chunks whose choice has no ``delta``
(possibly after the finish), ``finish_reason: "content_filter"`` for blocked output and a
filter-system error inside ``content_filter_results`` (logged, the text still counts). A prompt
blocked by the filter is HTTP 400 with ``code: "content_filter"``.
"""

from __future__ import annotations

from collections.abc import Mapping

from generation.providers.base import CompletionRequest, ProviderError
from generation.providers.openai import ChatCompletionStream, chat_body, error_from_response
from generation.providers.transport import HTTPCall, HTTPProvider

V1_VERSIONS = ("", "v1", "latest")


class AzureOpenAIProvider(HTTPProvider):
    name = "azure"
    label = "Azure OpenAI"
    location = "cloud"
    tier = "enterprise"
    expected_latency_ms = 900
    how_to_configure = (
        "Set AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT "
        "(and optionally AZURE_OPENAI_API_VERSION), or enter them in the admin under "
        "Provider credentials."
    )

    @property
    def endpoint(self) -> str:
        return str(self.options.get("endpoint") or "").rstrip("/")

    @property
    def deployment(self) -> str:
        return str(self.options.get("deployment") or self.options.get("model") or "")

    @property
    def api_version(self) -> str:
        return str(self.options.get("api_version") or "")

    @property
    def default_model(self) -> str:
        return self.deployment

    def is_configured(self) -> bool:
        return bool(self.options.get("api_key") and self.endpoint and self.deployment)

    def headers(self) -> dict[str, str]:
        return {"api-key": str(self.options.get("api_key", "")), "accept": "text/event-stream"}

    def build_call(self, request: CompletionRequest) -> HTTPCall:
        deployment = request.model or self.deployment
        if self.api_version in V1_VERSIONS:
            return HTTPCall(
                "POST",
                f"{self.endpoint}/openai/v1/chat/completions",
                self.headers(),
                chat_body(request, deployment),
            )
        return HTTPCall(
            "POST",
            f"{self.endpoint}/openai/deployments/{deployment}/chat/completions",
            self.headers(),
            chat_body(request, None),
            params={"api-version": self.api_version},
        )

    def new_parser(self, request: CompletionRequest) -> ChatCompletionStream:
        return ChatCompletionStream(self.alias)

    def error_from_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        return error_from_response(self.alias, status, headers, body)

    async def test_key(self) -> str:
        if self.api_version in V1_VERSIONS:
            data = await self._get_json(f"{self.endpoint}/openai/v1/models", self.headers())
        else:
            data = await self._get_json(
                f"{self.endpoint}/openai/models",
                self.headers(),
                **{"api-version": self.api_version},
            )
        count = len(data.get("data", [])) if isinstance(data, dict) else 0
        return f"key accepted ({count} models visible)"
