"""``manage.py bench_providers`` (the ``generation`` package itself is not an installed app)."""

from __future__ import annotations

from generation.management.commands.bench_providers import Command

__all__ = ["Command"]
