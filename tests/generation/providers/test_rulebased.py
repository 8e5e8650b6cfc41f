"""RuleBased, the offline adapter: a writer per purpose, a refusal for a purpose nobody wrote for,
a plain reply to a generic prompt, paced word groups, estimated usage and an immediate cancel."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import grimp
import pytest

from generation.chain.fallback import stream_with_fallback
from generation.providers import rulebased
from generation.providers.base import CompletionRequest, ErrorKind, Finish, ProviderError, TextDelta
from generation.providers.rulebased import TEMPLATE_BADGE, RuleBasedProvider

HEADING = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)
PRODUCTS = ("generation.scripts", "generation.runs", "roundtable", "videos", "aura_site")


def provider(pace_ms: Any = 0) -> RuleBasedProvider:
    return RuleBasedProvider("rulebased", {"pace_ms": pace_ms})


def asked(prompt: str, **metadata: Any) -> CompletionRequest:
    return CompletionRequest.from_prompt(prompt, system="Be brief.", metadata=metadata)


def collect(p: RuleBasedProvider, request: CompletionRequest) -> tuple[list[str], Finish]:
    async def run() -> tuple[list[str], Finish]:
        deltas: list[str] = []
        finish: Finish | None = None
        async for event in p.stream(request):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            else:
                finish = event
        assert finish is not None
        return deltas, finish

    return asyncio.run(run())


def long_writer(request: CompletionRequest) -> str:
    topic = request.messages[-1].content
    return "\n\n".join(f"Line {n} of the offline notes on {topic}." for n in range(1, 201))


@pytest.fixture
def notes() -> Iterator[str]:
    """A test-only purpose whose writer returns a long text."""
    rulebased.register_writer("test.notes", long_writer)
    yield "test.notes"
    rulebased.unregister_writer("test.notes")


# -- writers by purpose


def test_a_registered_purpose_gets_its_writer(notes: str) -> None:
    request = asked("lenses", purpose=notes)
    deltas, finish = collect(provider(), request)
    assert "".join(deltas) == long_writer(request)
    assert finish.finish_reason == "stop" and finish.model == "template-v1"


def test_registering_a_purpose_again_replaces_its_writer() -> None:
    rulebased.register_writer("test.shots", lambda request: "Shot 1: a wide view of the bay.")
    try:
        assert provider().render(asked("x", purpose="test.shots")).startswith("Shot 1")
        rulebased.register_writer("test.shots", lambda request: "Shot 1: a close-up of a gull.")
        assert provider().render(asked("x", purpose="test.shots")).endswith("gull.")
        assert "test.shots" in rulebased.registered_purposes()
    finally:
        rulebased.unregister_writer("test.shots")
    assert "test.shots" not in rulebased.registered_purposes()
    with pytest.raises(ProviderError, match=r"no offline writer for test\.shots"):
        provider().render(asked("x", purpose="test.shots"))


def test_a_writer_needs_a_purpose() -> None:
    with pytest.raises(ValueError):
        rulebased.register_writer("", long_writer)


def test_an_unknown_purpose_is_refused_before_any_text() -> None:
    request = asked("Frame the opening shot.", purpose="roundtable.director")

    async def first_event() -> Any:
        return await anext(aiter(provider().stream(request)))

    with pytest.raises(ProviderError) as refused:
        asyncio.run(first_event())
    error = refused.value
    assert error.kind is ErrorKind.BAD_REQUEST
    assert error.retryable is False
    assert error.message == "RuleBased has no offline writer for roundtable.director"
    assert error.provider == "rulebased"


@pytest.mark.django_db(transaction=True)
async def test_through_the_chain_an_unknown_purpose_ends_without_text() -> None:
    stream = stream_with_fallback(
        ["rulebased"],
        asked("Grade the dusk scene.", purpose="roundtable.colorist"),
        providers={"rulebased": provider()},
    )
    events: list[Any] = []
    with pytest.raises(ProviderError, match=r"no offline writer for roundtable\.colorist"):
        async with stream:
            async for event in stream:
                events.append(event)
    assert not any(isinstance(e, TextDelta) for e in events)
    assert [a.outcome for a in stream.attempts] == ["failed"]
    assert stream.attempts[0].retries == 0


# -- no purpose: the plain reply


@pytest.mark.parametrize("metadata", [{}, {"purpose": ""}, {"purpose": None}])
def test_no_purpose_gets_a_plain_offline_reply_not_a_script(metadata: dict[str, Any]) -> None:
    request = asked("Why do cats purr?", **metadata, brief={"topic": "Cats purring"})
    text = provider().render(request)
    assert text == rulebased.plain_writer(request)
    assert "offline template reply from RuleBased" in text
    assert "You asked: Why do cats purr?" in text
    assert HEADING.search(text) is None
    assert "Hook" not in text and "Call to action" not in text
    assert "Cats purring" not in text


def test_the_plain_reply_restates_only_the_start_of_a_long_prompt() -> None:
    prompt = " ".join(f"word{n}" for n in range(200))
    text = provider().render(asked(prompt))
    assert "word79 …" in text and "word80" not in text
    assert "(an empty prompt)" in provider().render(asked("   "))


# -- streaming, pacing, usage, cancel


def test_same_request_same_stream(notes: str) -> None:
    request = asked("lenses", purpose=notes)
    assert collect(provider(), request) == collect(provider(), request)


def test_streams_in_word_groups_that_join_to_the_text(notes: str) -> None:
    request = asked("lenses", purpose=notes)
    deltas, finish = collect(provider(), request)
    text = provider().render(request)
    assert "".join(deltas) == text
    assert len(deltas) > 10
    assert all(1 <= len(d.split()) <= 5 for d in deltas)
    assert finish.usage.reported is False
    assert finish.usage.output_tokens == -(-len(text) // 4)
    assert finish.usage.input_tokens > 0


@pytest.mark.parametrize(
    ("pace_ms", "seconds"),
    [(None, 0.02), (0, 0.0), ("35", 0.035), (-5, 0.0), ("fast", 0.02)],
)
def test_pace_comes_from_the_options(pace_ms: Any, seconds: float) -> None:
    options = {} if pace_ms is None else {"pace_ms": pace_ms}
    assert RuleBasedProvider("rulebased", options).pace_seconds == pytest.approx(seconds)


def test_word_groups_are_spaced_by_the_pace() -> None:
    request = asked("Explain white balance in one sentence.")
    started = time.monotonic()
    deltas, _ = collect(provider(pace_ms=10), request)
    assert time.monotonic() - started >= len(deltas) * 0.01 * 0.9


def test_cancelling_stops_the_stream_at_once(notes: str) -> None:
    request = asked("lenses", purpose=notes)
    p = provider(pace_ms=50)

    async def run() -> tuple[int, bool]:
        received: list[str] = []

        async def consume() -> None:
            async for event in p.stream(request):
                if isinstance(event, TextDelta):
                    received.append(event.text)

        task = asyncio.create_task(consume())
        while len(received) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        count = len(received)
        await asyncio.sleep(0.2)
        return count, len(received) == count

    count, stopped = asyncio.run(run())
    assert count < 10
    assert stopped


def test_provider_describes_itself() -> None:
    p = provider()
    assert p.name == "rulebased"
    assert p.location == "local"
    assert p.tier == "free"
    assert p.is_configured()
    assert asyncio.run(p.health())
    assert p.default_model == "template-v1"
    assert p.model_names() == ("template-v1",)
    assert p.badge == TEMPLATE_BADGE == "Template output (RuleBased, offline)"


# -- layering


def test_the_adapter_imports_no_product() -> None:
    """Not even inside a function, nor through another module."""
    graph = grimp.build_graph("generation", "roundtable", "videos", "aura_site", cache_dir=None)
    module = "generation.providers.rulebased"
    # grimp sees imports inside functions: the scripts app registers its writer in ``ready()``.
    assert module in graph.find_modules_directly_imported_by("generation.scripts.apps")
    imported = graph.find_modules_directly_imported_by(module) | graph.find_upstream_modules(module)
    assert "generation.providers.base" in imported
    assert not [m for m in imported if m.startswith(PRODUCTS)]
