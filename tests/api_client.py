"""An API client of one user (a bearer token) through the real ASGI handler, and an SSE body
parser that keeps the WHATWG field rules (one ``data:`` line per event here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.test import AsyncClient

from aura_site.accounts.tokens import token_create


@dataclass
class SSE:
    id: int
    """The event's ``id:`` (0 when it had none)."""
    event: str
    data: dict[str, Any]


def parse_sse(raw: str) -> tuple[list[SSE], list[str]]:
    """Events and comments of an SSE body."""
    events: list[SSE] = []
    comments: list[str] = []
    for block in raw.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line:
                continue
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append(
                SSE(
                    int(fields["id"]) if "id" in fields else 0,
                    fields["event"],
                    json.loads(fields["data"]),
                )
            )
    return events, comments


async def read_stream(response: Any) -> str:
    pieces = []
    async for chunk in response.streaming_content:
        pieces.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
    return "".join(pieces)


class Api:
    def __init__(self, headers: dict[str, str]) -> None:
        self.client = AsyncClient()
        self.headers = headers

    async def post(self, path: str, payload: Any = None) -> Any:
        return await self.client.post(
            path, payload, content_type="application/json", headers=self.headers
        )

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return await self.client.get(path, headers={**self.headers, **(headers or {})})


async def api_for(user: Any) -> Api:
    """A client with a new personal token of ``user`` (None: anonymous)."""
    if user is None:
        return Api({})
    _, raw = await sync_to_async(token_create)(user=user, name="tests")
    return Api({"Authorization": f"Bearer {raw}"})
