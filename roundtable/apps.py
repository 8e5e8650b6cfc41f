from __future__ import annotations

from django.apps import AppConfig


class RoundtableConfig(AppConfig):
    name = "roundtable"
    verbose_name = "Roundtable"

    def ready(self) -> None:
        from roundtable.kind import register_roundtable_kind
        from roundtable.offline import register_offline_writers
        from roundtable.reruns import register_rerun_kind

        register_roundtable_kind()
        register_rerun_kind()
        register_offline_writers()
