from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "generation.runs"
    label = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from django.core.signals import request_started

        from generation.runs import launch, maintenance

        launch.on_loop(maintenance.ensure)
        request_started.connect(_note_server_loop, dispatch_uid="runs-note-loop")


async def _note_server_loop(sender: Any, **kwargs: Any) -> None:
    """Under an ASGI server, remember its loop (inline runs execute there) and start the
    heartbeat and the reaper of this process."""
    from django.core.handlers.asgi import ASGIHandler

    from generation.runs import launch

    if isinstance(sender, type) and issubclass(sender, ASGIHandler):
        launch.note_loop()
