from __future__ import annotations

from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "generation.health"
    label = "health"
    verbose_name = "Provider health"
