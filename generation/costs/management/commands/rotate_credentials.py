"""Re-encrypt every stored provider key with the newest AURA_FIELD_ENCRYPTION_KEYS key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from generation.costs.credentials import credentials_rotate
from generation.costs.crypto import SecretUnreadable


class Command(BaseCommand):
    help = "Re-encrypt stored provider keys with the newest key of AURA_FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = credentials_rotate()
        except SecretUnreadable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Re-encrypted {count} stored key(s) with the newest key.")
