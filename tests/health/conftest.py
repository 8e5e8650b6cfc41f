"""Provider health tests: the LLM providers all unconfigured but those a test sets up (Ollama on
a closed port by default), the video providers all unconfigured, and loopback fakes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.providers import FakeProviderServer

CLOUD = ("openai", "anthropic", "gemini", "azure")


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def configure_llms(settings: Any, **options: dict[str, Any]) -> None:
    """``LLM_PROVIDERS`` with RuleBased at full speed, Ollama on a closed port and no cloud
    provider set up, but for the ``options`` given."""
    from generation.chain.policy import providers_forget
    from generation.providers import registry

    providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
    providers["rulebased"]["OPTIONS"] = {"pace_ms": 0}
    providers["ollama"]["OPTIONS"] = {"base_url": closed_port_url(), "model": "llama3.2"}
    for alias in CLOUD:
        providers[alias]["OPTIONS"] = {**providers[alias]["OPTIONS"], "api_key": ""}
    for alias, values in options.items():
        providers[alias]["OPTIONS"] = {**providers[alias]["OPTIONS"], **values}
    settings.LLM_PROVIDERS = providers
    registry.reset()
    providers_forget()


@pytest.fixture(autouse=True)
def offline(settings: Any) -> Iterator[None]:
    from tests.videos.conftest import configure_videos

    configure_llms(settings)
    configure_videos(settings)
    yield
    from generation.chain.policy import providers_forget
    from generation.providers import registry
    from videos.providers import registry as video_registry

    registry.reset()
    video_registry.reset()
    providers_forget()


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server
