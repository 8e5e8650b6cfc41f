from __future__ import annotations

from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "videos"
    verbose_name = "Videos"

    def ready(self) -> None:
        from generation.costs.credentials import key_tester_register
        from generation.health.sources import health_source_register
        from videos.health import FAMILY, video_health_facts
        from videos.jobs import register_video_kind
        from videos.keys import is_video_alias, video_key_test

        register_video_kind()
        key_tester_register(video_key_test, handles=is_video_alias)
        health_source_register(FAMILY, video_health_facts)
