"""Fixtures of the script tests: RuleBased without pacing, a scripted OpenAI fake, waiting for
a run to end, and a project with an owner, an editor, a viewer and an outsider."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.scripts.fake_llm import ScriptedOpenAI


def _providers(settings: Any, **changes: dict[str, Any]) -> None:
    from generation.chain.policy import providers_forget
    from generation.providers import registry

    providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
    providers["rulebased"] = {**providers["rulebased"], "OPTIONS": {"pace_ms": 0}}
    providers["ollama"] = {
        **providers["ollama"],
        "OPTIONS": {"base_url": "http://127.0.0.1:9", "model": "llama3.2"},
    }
    for alias, options in changes.items():
        providers[alias] = {**providers[alias], "OPTIONS": options}
    settings.LLM_PROVIDERS = providers
    registry.reset()
    providers_forget()


@pytest.fixture(autouse=True)
def builtin_templates(request: pytest.FixtureRequest) -> None:
    """The built-in templates as the data migration seeds them (a transactional test's flush
    empties the table for the tests after it)."""
    if not any(request.node.iter_markers("django_db")):
        return
    from importlib import import_module

    from django.apps import apps

    from generation.scripts.models import ScriptTemplate

    if not ScriptTemplate.objects.filter(built_in=True).exists():
        import_module("generation.scripts.migrations.0002_builtin_templates").seed(apps, None)


@pytest.fixture(autouse=True)
def quick_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def offline_providers(settings: Any) -> Iterator[None]:
    """RuleBased at full speed; Ollama on a closed port; no cloud provider configured."""
    from generation.chain.policy import providers_forget
    from generation.providers import registry

    for name in ("openai", "anthropic", "gemini", "azure"):
        options = dict(settings.LLM_PROVIDERS[name]["OPTIONS"])
        options["api_key"] = ""
        settings.LLM_PROVIDERS = {
            **settings.LLM_PROVIDERS,
            name: {**settings.LLM_PROVIDERS[name], "OPTIONS": options},
        }
    _providers(settings)
    yield
    registry.reset()
    providers_forget()


@pytest.fixture
def scripted_openai(settings: Any) -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as fake:
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        )
        yield fake


@dataclass
class Team:
    project: Any
    owner: Any
    editor: Any
    viewer: Any
    outsider: Any


@pytest.fixture
def team(
    make_user: Callable[..., Any], make_project: Callable[..., Any], add_member: Callable[..., Any]
) -> Team:
    owner, editor, viewer, outsider = (make_user() for _ in range(4))
    project = make_project(owner=owner)
    add_member(project, editor, "editor")
    add_member(project, viewer, "viewer")
    return Team(project, owner, editor, viewer, outsider)


@pytest.fixture
def wait_run() -> Callable[..., Any]:
    """``wait_run(run_id)``: the run once it has ended (its terminal event stored)."""
    from generation.runs.models import Run

    def wait(run_id: Any, limit: float = 60.0) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            run = Run.objects.get(pk=run_id)
            if not run.is_active:
                return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not end")

    return wait


def events_of(run_id: Any) -> list[tuple[str, dict[str, Any]]]:
    from generation.runs.models import RunEvent

    return [(e.event, e.data) for e in RunEvent.objects.filter(run_id=run_id).order_by("seq")]
