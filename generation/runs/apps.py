from __future__ import annotations

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "generation.runs"
    label = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from generation.runs.handlers import script_handler
        from generation.runs.kinds import register_kind

        register_kind("script", script_handler, default=True)
