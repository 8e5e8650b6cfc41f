"""Fixtures for the provider tests: a loopback fake server and a real httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from generation.providers.base import (
    CompletionRequest,
    Finish,
    LLMProvider,
    ProviderError,
    StreamMeter,
    TextDelta,
)
from tests.fakes.providers import FakeProviderServer


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as http:
        yield http


PROMPT = CompletionRequest.from_prompt("Write a hook about coffee.", system="Be brief.")


class Outcome:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.finish: Finish | None = None
        self.error: ProviderError | None = None
        self.meter = StreamMeter()

    @property
    def text(self) -> str:
        return "".join(self.texts)


async def collect(provider: LLMProvider, request: CompletionRequest = PROMPT) -> Outcome:
    outcome = Outcome()
    try:
        stream: Any = provider.stream(request, meter=outcome.meter)  # type: ignore[call-arg]
        async for event in stream:
            if isinstance(event, TextDelta):
                outcome.texts.append(event.text)
            else:
                assert outcome.finish is None, "two finish events"
                outcome.finish = event
    except ProviderError as exc:
        outcome.error = exc
    return outcome
