from __future__ import annotations

from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "generation.costs"
    label = "costs"
    verbose_name = "Costs and provider keys"

    def ready(self) -> None:
        from generation.costs import alerts, credentials  # noqa: F401  (connects the receivers)

        alerts.connect()
