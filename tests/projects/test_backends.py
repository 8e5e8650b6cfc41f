"""Which database, channel layer and cache the integration tests run on."""

from __future__ import annotations

import os

import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache, caches
from django.db import connection


@pytest.mark.integration
@pytest.mark.django_db
async def test_running_on_the_services() -> None:
    """Under tests/test_services.py: PostgreSQL, channels_redis and the Redis cache are in use."""
    layer = get_channel_layer()
    if os.environ.get("AURA_EXPECT_SERVICES") != "1":
        assert type(layer).__name__ == "InMemoryChannelLayer"
        return
    assert connection.vendor == "postgresql"
    assert type(layer).__name__ == "RedisChannelLayer"
    await layer.group_add("probe", "probe.channel")
    await layer.group_send("probe", {"type": "probe.ping", "n": 1})
    assert await layer.receive("probe.channel") == {"type": "probe.ping", "n": 1}
    await layer.group_discard("probe", "probe.channel")
    await cache.aset("probe", "pong", 30)
    assert await cache.aget("probe") == "pong"
    assert type(caches["default"]).__name__ == "SharedCache"
