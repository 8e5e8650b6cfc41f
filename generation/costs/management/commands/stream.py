"""``manage.py stream`` (the ``generation`` package itself is not an installed app)."""

from __future__ import annotations

from generation.management.commands.stream import Command

__all__ = ["Command"]
