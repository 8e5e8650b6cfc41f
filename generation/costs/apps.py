from __future__ import annotations

from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "generation.costs"
    label = "costs"
    verbose_name = "Costs and provider keys"

    def ready(self) -> None:
        from generation.costs import alerts, credentials, log_masking  # noqa: F401

        alerts.connect()
        log_masking.install()
