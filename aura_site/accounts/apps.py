from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "aura_site.accounts"
    label = "accounts"
