from __future__ import annotations

from django.apps import AppConfig


class ScriptsConfig(AppConfig):
    name = "generation.scripts"
    label = "scripts"
    verbose_name = "Scripts"

    def ready(self) -> None:
        from generation.providers.rulebased import register_writer
        from generation.scripts.constants import REQUEST_PURPOSE
        from generation.scripts.kind import register_script_kind
        from generation.scripts.live import register_live_status
        from generation.scripts.offline import script_writer

        register_script_kind()
        register_live_status()
        register_writer(REQUEST_PURPOSE, script_writer)
