from __future__ import annotations

from django.apps import AppConfig


class RoundtableConfig(AppConfig):
    name = "roundtable"
