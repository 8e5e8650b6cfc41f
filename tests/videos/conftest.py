"""Fixtures for the video adapter tests: a real httpx client and an address nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        yield http


@pytest.fixture
def closed_url() -> str:
    """``http://127.0.0.1:<port>`` of a port that was free a moment ago and is closed now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 40


# ---- jobs: a team, the media folder, fast polls, providers pointed at fakes ------------------


@dataclass
class Team:
    project: Any
    owner: Any
    editor: Any
    viewer: Any
    outsider: Any


@pytest.fixture
def team(
    make_user: Callable[..., Any], make_project: Callable[..., Any], add_member: Callable[..., Any]
) -> Team:
    owner, editor, viewer, outsider = (make_user() for _ in range(4))
    project = make_project(owner=owner, name="Harbour film")
    add_member(project, editor, "editor")
    add_member(project, viewer, "viewer")
    return Team(project, owner, editor, viewer, outsider)


@pytest.fixture
def media_dir(settings: Any, tmp_path: Path) -> Path:
    """The videos storage in a folder of the test's own."""
    folder = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "videos": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder / "videos")},
        },
    }
    return folder / "videos"


@pytest.fixture
def fast_polls(settings: Any) -> None:
    settings.AURA_VIDEO_POLL_SECONDS = 0.05
    settings.AURA_VIDEO_POLL_MAX_SECONDS = 0.2


def configure_videos(settings: Any, **options: dict[str, Any]) -> None:
    """``VIDEO_PROVIDERS`` with every provider unconfigured but those given ``options``."""
    from videos.providers import registry

    empty = {
        "neura": {"base_url": "", "api_key": ""},
        "runway": {"api_key": ""},
        "luma": {"api_key": ""},
        "huggingface": {"api_key": ""},
        "self_hosted": {"base_url": ""},
    }
    providers = {}
    for alias, config in settings.VIDEO_PROVIDERS.items():
        providers[alias] = {**config, "OPTIONS": options.get(alias, empty.get(alias, {}))}
    settings.VIDEO_PROVIDERS = providers
    registry.reset()


@pytest.fixture
def no_video_providers(settings: Any, media_dir: Path, fast_polls: None) -> None:
    configure_videos(settings)


@pytest.fixture
def clip() -> bytes:
    """A real moving MP4 (PyAV), two seconds of a pattern that moves."""
    from tests.videos_media.make import moving_pattern_mp4

    return moving_pattern_mp4(seconds=2.0)
