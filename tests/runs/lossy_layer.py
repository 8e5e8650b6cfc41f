"""A channel layer that loses messages, as channels_redis does when a channel is full or a
message expires: every third run event sent to a group never arrives."""

from __future__ import annotations

from typing import Any

from channels.layers import InMemoryChannelLayer


class LossyChannelLayer(InMemoryChannelLayer):
    dropped = 0

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if message.get("type") == "run.event" and message.get("seq", 0) % 3 == 0:
            LossyChannelLayer.dropped += 1
            return
        await super().group_send(group, message)
