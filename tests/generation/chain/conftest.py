"""The chain is tested against the same loopback fakes and client as the adapters."""

from __future__ import annotations

from tests.generation.providers.conftest import client, fake

__all__ = ["client", "fake"]
