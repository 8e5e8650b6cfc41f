"""Fixtures of the roundtable tests: a project with a team and a world, and a loopback fake of
the OpenAI API that answers each step of a session as a model would (its own words per agent)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from generation.benchmarks.fake_table import FakeTable


@dataclass
class Team:
    project: Any
    owner: Any
    editor: Any
    viewer: Any
    outsider: Any
    character: Any
    location: Any
    series: Any


@pytest.fixture
def team(
    make_user: Callable[..., Any], make_project: Callable[..., Any], add_member: Callable[..., Any]
) -> Team:
    from aura_site.projects.models import Character, Location, Series

    owner, editor, viewer, outsider = (make_user() for _ in range(4))
    project = make_project(owner=owner, name="Harbour film")
    add_member(project, editor, "editor")
    add_member(project, viewer, "viewer")
    series = Series.objects.create(
        project=project, name="Harbour Lights", description="Night stories."
    )
    character = Character.objects.create(
        project=project,
        name="Mara",
        description="A harbour pilot",
        look="Yellow oilskin coat",
        voice="Low and calm",
    )
    location = Location.objects.create(
        project=project, name="North Pier", description="Wet planks, cranes", mood="Blue dusk"
    )
    return Team(project, owner, editor, viewer, outsider, character, location, series)


def _providers(settings: Any, **options: dict[str, Any]) -> None:
    from generation.chain.policy import providers_forget
    from generation.providers import registry

    providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
    for name in ("openai", "anthropic", "gemini", "azure"):
        providers[name] = {
            **providers[name],
            "OPTIONS": {**providers[name].get("OPTIONS", {}), "api_key": ""},
        }
    providers["ollama"] = {
        **providers["ollama"],
        "OPTIONS": {"base_url": "http://127.0.0.1:9", "model": "llama3.2"},
    }
    providers["rulebased"] = {**providers["rulebased"], "OPTIONS": {"pace_ms": 0}}
    for alias, values in options.items():
        providers[alias] = {**providers[alias], "OPTIONS": values}
    settings.LLM_PROVIDERS = providers
    registry.reset()
    providers_forget()


@pytest.fixture(autouse=True)
def offline(settings: Any) -> Iterator[None]:
    """No cloud provider configured, Ollama unreachable, RuleBased at full speed."""
    from generation.chain.policy import providers_forget
    from generation.providers import registry

    _providers(settings)
    settings.AURA_RUN_HEARTBEAT_SECONDS = 0.2
    settings.AURA_RUN_IDLE_POLL_SECONDS = 0.3
    yield
    registry.reset()
    providers_forget()


@pytest.fixture
def table(settings: Any) -> Iterator[FakeTable]:
    """The OpenAI fake set up as the ``openai`` provider, with list prices for its model."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from generation.costs.models import Price

    Price.objects.get_or_create(
        provider="openai",
        model="gpt-4o-mini",
        effective_from=timezone.now() - timedelta(days=1),
        defaults={"input_per_1k": Decimal("0.00015"), "output_per_1k": Decimal("0.0006")},
    )
    with FakeTable() as fake:
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        )
        yield fake


@pytest.fixture
def brief() -> dict[str, Any]:
    from tests.roundtable.briefs import world_brief

    return world_brief()
