from __future__ import annotations

from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "generation.costs"
    label = "costs"
