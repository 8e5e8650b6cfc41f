from __future__ import annotations

from django.apps import AppConfig


class SpendConfig(AppConfig):
    name = "generation.spend"
    label = "spend"
    verbose_name = "Spend"
