"""Real media files for the media-check tests, encoded with PyAV in memory.

Every builder returns the bytes of a complete file a provider could have sent:

- ``moving_pattern_mp4``: a drifting gradient with a square sliding across it (real motion);
- ``still_mp4``: one textured picture encoded for the whole duration;
- ``slideshow_mp4``: two or three (or more) pictures, each held for an equal share of the time;
- ``single_frame_mp4``: an MP4 with one frame;
- ``audio_only_file``: an MP4 (AAC) with a tone and no picture;
- ``png_image``: a PNG still; ``GARBAGE``: bytes that are no media at all.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt

Picture = npt.NDArray[np.uint8]

GARBAGE = b"this is not a video, only some text that happens to be long enough " * 40


def _encode(
    pictures: Iterable[Picture], *, fps: int, size: tuple[int, int], codec: str = "h264"
) -> bytes:
    width, height = size
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if codec == "h264":
            stream.options = {"preset": "ultrafast"}
        for picture in pictures:
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _textured(size: tuple[int, int], seed: int) -> Picture:
    """A picture with gradients, blocks and fine noise: hard enough for an encoder that its
    keyframes do not come out bit-identical for free."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    picture = np.empty((height, width, 3), np.uint8)
    picture[..., 0] = (xs * 255 // max(width - 1, 1) + seed * 70) % 256
    picture[..., 1] = (ys * 255 // max(height - 1, 1) + seed * 40) % 256
    picture[..., 2] = ((xs // 16 + ys // 16 + seed) % 2) * 200
    noise = rng.integers(0, 40, size=(height, width, 1), dtype=np.uint8)
    return np.clip(picture.astype(np.int16) + noise - 20, 0, 255).astype(np.uint8)


def _moving(
    count: int, size: tuple[int, int], *, hold: int = 1, speed: float = 1.0
) -> Iterator[Picture]:
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    side = max(height // 3, 4)
    for index in range(count):
        step = (index // hold) * speed
        picture = np.empty((height, width, 3), np.uint8)
        picture[..., 0] = (xs * 2 + int(step * 6)) % 256
        picture[..., 1] = (ys * 2 + int(step * 3)) % 256
        picture[..., 2] = 90
        left = int(step * 4) % max(width - side, 1)
        top = (height - side) // 2 + int((height // 4) * np.sin(step / 6))
        picture[top : top + side, left : left + side] = (250, 250, 250)
        yield picture


def moving_pattern_mp4(
    seconds: float = 2.0,
    fps: int = 24,
    size: tuple[int, int] = (160, 96),
    *,
    codec: str = "h264",
    hold: int = 1,
    speed: float = 1.0,
) -> bytes:
    """A moving picture. ``hold`` repeats each picture that many frames, the way a model that
    renders at a low rate and is delivered at a higher one looks; ``speed`` scales how far the
    picture moves from one frame to the next."""
    count = round(seconds * fps)
    pictures = _moving(count, size, hold=hold, speed=speed)
    return _encode(pictures, fps=fps, size=size, codec=codec)


def still_mp4(
    seconds: float = 2.0, fps: int = 24, size: tuple[int, int] = (160, 96), *, codec: str = "h264"
) -> bytes:
    picture = _textured(size, seed=1)
    count = round(seconds * fps)
    return _encode((picture for _ in range(count)), fps=fps, size=size, codec=codec)


def slideshow_mp4(
    images: int = 3,
    seconds: float = 3.0,
    fps: int = 24,
    size: tuple[int, int] = (160, 96),
    *,
    codec: str = "h264",
) -> bytes:
    pictures = [_textured(size, seed=seed) for seed in range(1, images + 1)]
    count = round(seconds * fps)
    per_image = count / images
    return _encode(
        (pictures[min(int(index / per_image), images - 1)] for index in range(count)),
        fps=fps,
        size=size,
        codec=codec,
    )


def single_frame_mp4(size: tuple[int, int] = (160, 96)) -> bytes:
    return _encode([_textured(size, seed=1)], fps=24, size=size)


def audio_only_file(seconds: float = 1.0, rate: int = 44100) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = np.arange(round(seconds * rate), dtype=np.float32)
        tone = (0.3 * np.sin(2 * np.pi * 440 * samples / rate)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def png_image(size: tuple[int, int] = (64, 48)) -> bytes:
    width, height = size
    context = av.CodecContext.create("png", "w")
    context.width = width
    context.height = height
    context.pix_fmt = "rgb24"
    frame = av.VideoFrame.from_ndarray(_textured(size, seed=2), format="rgb24")
    packets = [*context.encode(frame), *context.encode(None)]
    return b"".join(bytes(packet) for packet in packets)
