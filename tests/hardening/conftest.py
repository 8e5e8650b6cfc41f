"""Fixtures of the hostile-input tests: providers offline (RuleBased at full speed, no cloud
LLM and no video provider configured) so nothing a fuzzer starts reaches the internet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.scripts.conftest import offline_providers
from tests.videos.conftest import configure_videos

__all__ = ["offline_providers"]


@pytest.fixture(autouse=True)
def offline_videos(settings: Any, tmp_path: Path) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "videos": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media" / "videos")},
        },
    }
    settings.AURA_VIDEO_POLL_SECONDS = 0.05
    settings.AURA_VIDEO_POLL_MAX_SECONDS = 0.2
    configure_videos(settings)
