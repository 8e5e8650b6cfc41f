"""A step-mode kind of the scale-out test's own, installed by its settings: a run that submits
an "external job" once (counted in Redis, the side effect that must never repeat) and polls it
a few times before it finishes."""

from __future__ import annotations

from django.apps import AppConfig


class StepKindConfig(AppConfig):
    name = "tests.scaleout.stepkind"
    label = "scaleout_stepkind"

    def ready(self) -> None:
        from generation.runs.kinds import register
        from tests.scaleout.stepkind.kind import WAITING

        register(WAITING)
