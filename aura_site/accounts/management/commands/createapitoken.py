from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aura_site.accounts.tokens import token_create


class Command(BaseCommand):
    help = "Print a new personal API token for USERNAME (shown once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="What the token is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(f"There is no user named {options['username']!r}.") from None
        if not user.is_active:
            raise CommandError(f"The user {options['username']!r} is inactive.")
        name = str(options["name"]).strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters.")
        token, raw = token_create(user=user, name=name)
        self.stdout.write(raw)
        self.stderr.write(f"Created token {token.display_prefix} “{token.name}” for {user}.")
