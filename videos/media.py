"""What a downloaded result really is, and whether it is a moving video.

The studio promises real videos: never a slideshow, a still or any other stand-in passed off as
one. Every file a provider hands back goes through ``check_real_video`` before it is stored or
shown; ``inspect_video`` gives the same facts without the verdict, and ``thumbnail_jpeg`` the
picture shown for it. All three are synchronous and CPU-bound (a 5-second 1080p clip takes about
0.3 s to check): async code calls them through ``asyncio.to_thread``.

Nothing here trusts the container's metadata for what it can see: frames are counted by
decoding them (at most ``MAX_FRAMES``; past that the count is marked ``frames_capped``), and the
frame rate and duration come from the decoded frames' timestamps, with the stream's declared
rate only as a fallback for files without timestamps.

Motion. Every decoded frame is scaled to a small grayscale picture ``SAMPLE_WIDTH`` pixels wide
(values 0-255), and two pictures differ by the mean absolute difference of their pixels.

- *Sampled pairs*: ``SAMPLES`` frames spread evenly over the video (fewer in a short video, so
  that samples stay at least ``SAMPLE_GAP`` frames apart and a picture repeated over a few
  frames is not compared with itself), each compared with the next sample. A pair *moves* when
  its difference is above ``MOTION_THRESHOLD``. Real motion moves in most pairs (at least
  ``MOVING_SHARE`` of them); a still moves in none; a slideshow of a few pictures moves only in
  the pairs that straddle a change of picture.
- *Jumps*: the differences from each frame to the next (the *steps*). In real motion the change
  is spread over many steps; in a slideshow it all happens in the few steps where one picture
  replaces another. ``jump_share`` is the part of the total change carried by the largest
  ``JUMP_STEPS`` (one in eight) of the steps. At ``JUMP_SHARE`` or more the picture changes in
  jumps: this catches a slideshow whose pictures change too often for the sampled pairs to see
  it, down to a new picture every nine frames or so. Frames repeated two to four times in a row
  (a model rendering at 8 fps delivered at 24) spread their change over a quarter or more of
  the steps and pass.

The verdict is ``moving`` when enough sampled pairs move and the change does not come in jumps;
``still`` when no sampled pair and no step differs by more than ``SAME_PICTURE`` (more than an
encoder's keyframes make one picture flicker); ``slideshow`` otherwise.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer
from av.video.stream import VideoStream

Source = bytes | bytearray | memoryview | str | os.PathLike[str]
Verdict = Literal["moving", "still", "slideshow"]

MAX_FRAMES = 2400
MAX_PIXELS = 7680 * 4320
SAMPLE_WIDTH = 64
SAMPLES = 20
SAMPLE_GAP = 5
MOTION_THRESHOLD = 1.0
MOVING_SHARE = 0.6
SAME_PICTURE = 5.0
JUMP_STEPS = 1 / 8
JUMP_SHARE = 0.9
JPEG_QSCALE = 3

Gray = npt.NDArray[np.uint8]


class NotAVideo(Exception):
    """The file is not a real moving video; ``reason`` says why in words a user can read,
    ``code`` in one word: ``unreadable``, ``no_video_stream``, ``too_large``, ``single_frame``,
    ``no_duration``, ``still``, ``slideshow``."""

    def __init__(self, reason: str, code: str = "unreadable") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self) -> tuple[type[NotAVideo], tuple[str, str]]:
        return (type(self), (self.reason, self.code))


@dataclass(frozen=True, slots=True)
class Motion:
    """How the picture changes; see the module docstring for the measures."""

    verdict: Verdict
    pairs: int
    moving_pairs: int
    median_difference: float
    max_difference: float
    max_step: float
    jump_share: float


@dataclass(frozen=True, slots=True)
class VideoFacts:
    """What a video is. ``frames`` were counted by decoding (``frames_capped`` when the count
    stopped at ``MAX_FRAMES``); ``fps`` and ``duration_seconds`` come from the decoded frames'
    timestamps; ``codec`` and ``container`` are FFmpeg's names (``h264``, ``mov,mp4,...``);
    ``bytes`` is the file's size."""

    width: int
    height: int
    fps: float
    frames: int
    frames_capped: bool
    duration_seconds: float
    codec: str
    container: str
    bytes: int
    motion: Motion

    @property
    def moving(self) -> bool:
        return self.motion.verdict == "moving"


def check_real_video(data: Source) -> VideoFacts:
    """The facts of ``data`` when it is a real moving video; ``NotAVideo`` otherwise."""
    facts = inspect_video(data)
    if facts.frames < 2:
        raise NotAVideo("the video has a single frame", "single_frame")
    if facts.duration_seconds <= 0:
        raise NotAVideo("the video has no duration", "no_duration")
    if facts.motion.verdict == "still":
        raise NotAVideo("the picture does not move: a still image", "still")
    if facts.motion.verdict == "slideshow":
        raise NotAVideo(
            "the picture changes only in a few jumps: a slideshow of stills", "slideshow"
        )
    return facts


def inspect_video(data: Source) -> VideoFacts:
    """Decode ``data`` (the file's bytes or its path) and report what it is. Raises
    ``NotAVideo`` only when there is no picture to report on: an unreadable file, no video
    stream, no decodable frame, or a picture too large to check."""
    size = _size(data)
    with _opened(data) as container:
        stream = _video_stream(container)
        smalls: list[Gray] = []
        steps: list[float] = []
        times: list[float | None] = []
        width = height = 0
        capped = False
        try:
            for frame in container.decode(stream):
                if not smalls:
                    width, height = frame.width, frame.height
                    _check_pixels(width, height)
                small = np.asarray(
                    frame.to_ndarray(
                        format="gray",
                        width=SAMPLE_WIDTH,
                        height=_sample_height(width, height),
                        interpolation="AREA",
                    ),
                    dtype=np.uint8,
                )
                if smalls:
                    steps.append(_difference(smalls[-1], small))
                smalls.append(small)
                times.append(frame.time)
                if len(smalls) >= MAX_FRAMES:
                    capped = True
                    break
        except av.FFmpegError as exc:
            raise NotAVideo(
                f"the file could not be read as a video: decoding failed after "
                f"{len(smalls)} frames ({exc})"
            ) from exc
        if not smalls:
            raise NotAVideo("the file could not be read as a video: it has no picture")
        fps, duration = _timing(stream, times)
        if capped:
            duration = max(duration, _declared_duration(container, stream))
        return VideoFacts(
            width=width,
            height=height,
            fps=round(fps, 2),
            frames=len(smalls),
            frames_capped=capped,
            duration_seconds=round(duration, 3),
            codec=stream.codec_context.name,
            container=container.format.name,
            bytes=size,
            motion=_motion(smalls, steps),
        )


def thumbnail_jpeg(data: Source, at_seconds: float | None = None) -> bytes:
    """A JPEG of the frame shown at ``at_seconds`` (the middle frame by default; the last frame
    when the time is past the end), at the video's own size."""
    with _opened(data) as container:
        stream = _video_stream(container)
        target = at_seconds if at_seconds is not None else _middle_time(container, stream)
    with _opened(data) as container:
        stream = _video_stream(container)
        frame = _frame_at(container, stream, max(target, 0.0))
    if frame is None:
        raise NotAVideo("the file could not be read as a video: it has no picture")
    return _jpeg(frame)


def _size(data: Source) -> int:
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    return os.path.getsize(data)


@contextmanager
def _opened(data: Source) -> Iterator[InputContainer]:
    if isinstance(data, bytes | bytearray | memoryview):
        if not len(data):
            raise NotAVideo("the file could not be read as a video: it is empty")
        source: io.BytesIO | str = io.BytesIO(bytes(data))
    else:
        source = os.fspath(data)
    try:
        container = av.open(source, "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise NotAVideo(f"the file could not be read as a video ({exc})") from exc
    try:
        yield container
    finally:
        container.close()


def _video_stream(container: InputContainer) -> VideoStream:
    if not container.streams.video:
        raise NotAVideo("the file has no video stream", "no_video_stream")
    stream = container.streams.video[0]
    _check_pixels(stream.codec_context.width, stream.codec_context.height)
    stream.thread_type = "AUTO"
    return stream


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise NotAVideo(
            f"the video's picture ({width}x{height}) is larger than the studio checks",
            "too_large",
        )


def _sample_height(width: int, height: int) -> int:
    return max(1, min(4 * SAMPLE_WIDTH, round(SAMPLE_WIDTH * height / max(width, 1))))


def _difference(a: Gray, b: Gray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _timing(stream: VideoStream, times: list[float | None]) -> tuple[float, float]:
    """Frames per second and duration in seconds, from the decoded timestamps when every frame
    has one, else from the declared rate."""
    count = len(times)
    known = [t for t in times if t is not None]
    if count >= 2 and len(known) == count and (span := max(known) - min(known)) > 0:
        fps = (count - 1) / span
        return fps, span + 1 / fps
    declared = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(declared) if declared else 0.0
    return fps, (count / fps if fps > 0 else 0.0)


def _declared_duration(container: InputContainer, stream: VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _motion(smalls: list[Gray], steps: list[float]) -> Motion:
    if len(smalls) < 2:
        return Motion("still", 0, 0, 0.0, 0.0, 0.0, 1.0)
    last = len(smalls) - 1
    count = max(2, min(SAMPLES, last // SAMPLE_GAP + 1))
    picks = sorted({round(i) for i in np.linspace(0, last, count)})
    sampled = [_difference(smalls[a], smalls[b]) for a, b in itertools.pairwise(picks)]
    moving_pairs = sum(1 for difference in sampled if difference > MOTION_THRESHOLD)
    jump_share = _jump_share(steps)
    max_step = max(steps)
    verdict: Verdict
    if moving_pairs >= MOVING_SHARE * len(sampled) and jump_share < JUMP_SHARE:
        verdict = "moving"
    elif max(sampled) <= SAME_PICTURE and max_step <= SAME_PICTURE:
        verdict = "still"
    else:
        verdict = "slideshow"
    return Motion(
        verdict=verdict,
        pairs=len(sampled),
        moving_pairs=moving_pairs,
        median_difference=round(statistics.median(sampled), 3),
        max_difference=round(max(sampled), 3),
        max_step=round(max_step, 3),
        jump_share=round(jump_share, 3),
    )


def _jump_share(steps: list[float]) -> float:
    """The part of the total frame-to-frame change carried by the largest ``JUMP_STEPS`` of
    the steps (1.0 when nothing changes at all)."""
    total = sum(steps)
    if total <= 0:
        return 1.0
    largest = sorted(steps, reverse=True)[: math.ceil(len(steps) * JUMP_STEPS)]
    return sum(largest) / total


def _middle_time(container: InputContainer, stream: VideoStream) -> float:
    """The presentation time halfway between the first and the last frame, from the packets'
    timestamps (demuxing only, nothing decoded)."""
    first: int | None = None
    last: int | None = None
    for seen, packet in enumerate(container.demux(stream), start=1):
        if packet.pts is not None:
            first = packet.pts if first is None else min(first, packet.pts)
            last = packet.pts if last is None else max(last, packet.pts)
        if seen >= MAX_FRAMES:
            break
    if first is None or last is None or stream.time_base is None:
        return 0.0
    return float((first + last) / 2 * stream.time_base)


def _frame_at(container: InputContainer, stream: VideoStream, at: float) -> av.VideoFrame | None:
    """The first frame shown at or after ``at`` seconds, or the last frame before the end."""
    if at > 0 and stream.time_base is not None:
        try:
            container.seek(int(at / stream.time_base), stream=stream, backward=True)
        except av.FFmpegError:
            container.seek(0)
    chosen: av.VideoFrame | None = None
    try:
        for decoded, frame in enumerate(container.decode(stream)):
            chosen = frame
            if frame.time is None or frame.time >= at - 1e-6 or decoded >= MAX_FRAMES:
                break
    except av.FFmpegError as exc:
        if chosen is None:
            raise NotAVideo(f"the file could not be read as a video ({exc})") from exc
    if chosen is not None:
        _check_pixels(chosen.width, chosen.height)
    return chosen


def _jpeg(frame: av.VideoFrame) -> bytes:
    """``frame`` as a baseline JPEG, encoded by FFmpeg's ``mjpeg`` encoder."""
    picture = frame.reformat(
        format="yuv420p",
        src_color_range=frame.color_range or None,
        dst_color_range="JPEG",
    )
    context = av.CodecContext.create("mjpeg", "w")
    context.width = picture.width
    context.height = picture.height
    context.pix_fmt = "yuv420p"
    context.color_range = av.video.reformatter.ColorRange.JPEG
    context.time_base = Fraction(1, 25)
    context.options = {"qmin": str(JPEG_QSCALE), "qmax": str(JPEG_QSCALE)}
    picture.pts = 0
    picture.color_range = av.video.reformatter.ColorRange.JPEG
    packets = [*context.encode(picture), *context.encode(None)]
    return b"".join(bytes(packet) for packet in packets)
