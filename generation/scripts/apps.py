from __future__ import annotations

from django.apps import AppConfig


class ScriptsConfig(AppConfig):
    name = "generation.scripts"
    label = "scripts"
    verbose_name = "Scripts"

    def ready(self) -> None:
        from generation.runs.kinds import register_kind
        from generation.scripts.pipeline import script_handler

        register_kind("script", script_handler)
