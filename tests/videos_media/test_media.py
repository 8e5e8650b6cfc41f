"""The media checks on real files encoded with PyAV: what passes as a moving video, what is
refused and why, and the thumbnail."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from tests.videos_media import make
from videos import media
from videos.media import NotAVideo, check_real_video, inspect_video, thumbnail_jpeg


@pytest.mark.parametrize(
    ("seconds", "fps", "size", "codec", "hold"),
    [
        (2.0, 24, (160, 96), "h264", 1),
        (3.0, 30, (320, 180), "mpeg4", 1),
        (1.5, 25, (96, 128), "h264", 1),
        (4.0, 24, (160, 96), "h264", 3),
    ],
    ids=["h264-24fps", "mpeg4-30fps", "portrait-25fps", "8fps-rendered-at-24"],
)
def test_a_moving_pattern_passes_with_its_facts(
    seconds: float, fps: int, size: tuple[int, int], codec: str, hold: int
) -> None:
    data = make.moving_pattern_mp4(seconds, fps, size, codec=codec, hold=hold)

    facts = check_real_video(data)

    assert (facts.width, facts.height) == size
    assert facts.fps == pytest.approx(fps, abs=0.01)
    assert facts.frames == round(seconds * fps)
    assert not facts.frames_capped
    assert facts.duration_seconds == pytest.approx(seconds, abs=1.5 / fps)
    assert facts.codec == codec
    assert "mp4" in facts.container
    assert facts.bytes == len(data)
    assert facts.moving
    assert facts.motion.moving_pairs == facts.motion.pairs
    assert facts.motion.median_difference > 4 * media.MOTION_THRESHOLD
    assert facts.motion.jump_share < media.JUMP_SHARE


def test_a_slow_movement_still_passes() -> None:
    facts = check_real_video(make.moving_pattern_mp4(3.0, speed=0.1))

    assert facts.moving
    assert facts.motion.median_difference > 2 * media.MOTION_THRESHOLD


def test_a_path_reads_like_bytes(tmp_path: Path) -> None:
    data = make.moving_pattern_mp4(1.0)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)

    assert inspect_video(path) == inspect_video(data)
    assert inspect_video(str(path)) == inspect_video(data)


REFUSED: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("still", make.still_mp4, "still", "the picture does not move: a still image"),
    (
        "still-mpeg4",
        lambda: make.still_mp4(3.0, codec="mpeg4"),
        "still",
        "the picture does not move: a still image",
    ),
    (
        "slideshow-2",
        lambda: make.slideshow_mp4(2),
        "slideshow",
        "the picture changes only in a few jumps: a slideshow of stills",
    ),
    (
        "slideshow-3",
        lambda: make.slideshow_mp4(3, 4.5),
        "slideshow",
        "the picture changes only in a few jumps: a slideshow of stills",
    ),
    (
        "slideshow-8-in-3s",
        lambda: make.slideshow_mp4(8, 3.0),
        "slideshow",
        "the picture changes only in a few jumps: a slideshow of stills",
    ),
    ("single-frame", make.single_frame_mp4, "single_frame", "the video has a single frame"),
    ("png", make.png_image, "single_frame", "the video has a single frame"),
    ("audio-only", make.audio_only_file, "no_video_stream", "the file has no video stream"),
    ("garbage", lambda: make.GARBAGE, "unreadable", "the file could not be read as a video"),
    ("empty", lambda: b"", "unreadable", "the file could not be read as a video"),
    (
        "truncated",
        lambda: make.moving_pattern_mp4(1.0)[:400],
        "unreadable",
        "the file could not be read as a video",
    ),
]


@pytest.mark.parametrize(
    ("build", "code", "reason"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_what_is_not_a_real_video_is_refused_with_its_reason(
    build: Callable[[], bytes], code: str, reason: str
) -> None:
    with pytest.raises(NotAVideo) as refused:
        check_real_video(build())

    assert refused.value.code == code
    assert str(refused.value).startswith(reason)


def test_the_still_and_the_slideshow_are_told_apart_by_their_measures() -> None:
    still = inspect_video(make.still_mp4(3.0)).motion
    slideshow = inspect_video(make.slideshow_mp4(3, 3.0)).motion

    assert still.verdict == "still"
    assert still.moving_pairs == 0
    assert still.max_step <= media.SAME_PICTURE
    assert slideshow.verdict == "slideshow"
    assert 0 < slideshow.moving_pairs < media.MOVING_SHARE * slideshow.pairs
    assert slideshow.max_step > 10 * media.SAME_PICTURE
    assert slideshow.jump_share >= media.JUMP_SHARE


def test_frames_are_counted_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MAX_FRAMES", 30)

    facts = inspect_video(make.moving_pattern_mp4(3.0, 24))

    assert facts.frames == 30
    assert facts.frames_capped
    assert facts.duration_seconds == pytest.approx(3.0, abs=0.1)


def test_a_picture_too_large_to_check_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MAX_PIXELS", 100 * 100)

    with pytest.raises(NotAVideo) as refused:
        inspect_video(make.moving_pattern_mp4(1.0, size=(160, 96)))

    assert refused.value.code == "too_large"


def _decoded(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), "r") as container:
        frames = container.decode(video=0)
        return [frame.to_ndarray(format="gray").astype(np.int16) for frame in frames]


def _nearest_frame(jpeg: bytes, video: bytes) -> int:
    (picture,) = _decoded(jpeg)
    return int(np.argmin([np.abs(frame - picture).mean() for frame in _decoded(video)]))


@pytest.mark.parametrize(
    ("at_seconds", "frame"),
    [(None, 24), (0.0, 0), (0.5, 12), (10.0, 47)],
    ids=["middle-by-default", "start", "half-a-second", "past-the-end-is-the-last"],
)
def test_the_thumbnail_is_a_jpeg_of_the_frame_at_that_time(
    at_seconds: float | None, frame: int
) -> None:
    video = make.moving_pattern_mp4(2.0, 24, (160, 96))

    jpeg = thumbnail_jpeg(video, at_seconds)

    assert jpeg[:2] == b"\xff\xd8"
    assert jpeg[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(jpeg), "r") as container:
        assert container.format.name == "jpeg_pipe"
        (decoded,) = list(container.decode(video=0))
    assert (decoded.width, decoded.height) == (160, 96)
    assert abs(_nearest_frame(jpeg, video) - frame) <= 1


def test_the_thumbnail_keeps_the_colours() -> None:
    video = make.still_mp4(1.0)

    jpeg = thumbnail_jpeg(video)

    with av.open(io.BytesIO(jpeg), "r") as container:
        thumb = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.int16)
    with av.open(io.BytesIO(video), "r") as container:
        source = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.int16)
    assert np.abs(thumb - source).mean() < 8


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (make.audio_only_file(), "no_video_stream"),
        (b"", "unreadable"),
        (make.GARBAGE, "unreadable"),
    ],
    ids=["audio-only", "empty", "garbage"],
)
def test_no_thumbnail_without_a_picture(data: bytes, code: str) -> None:
    with pytest.raises(NotAVideo) as refused:
        thumbnail_jpeg(data)

    assert refused.value.code == code
