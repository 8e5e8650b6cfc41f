"""The check of a downloaded clip, in processes beside the worker.

Checking a clip decodes every frame with PyAV (``videos.media``): CPU-bound work that, in the
worker's own threads, competes with its steps for the interpreter and delays every job waiting
behind it. ``check_clip`` runs the check and the thumbnail in a pool of
``AURA_VIDEO_CHECK_PROCESSES`` processes (started on first use with ``forkserver``, so no child
inherits the worker's threads or connections; one that dies is replaced with the whole pool),
or in a thread when the setting is 0. The children
import only ``videos.media`` (PyAV and NumPy), never Django.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from django.conf import settings

from videos import media

logger = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def check_and_thumbnail(body: bytes) -> tuple[media.VideoFacts, bytes]:
    """The clip's facts when it is a real moving video (``NotAVideo`` otherwise) and a JPEG
    thumbnail of it."""
    facts = media.check_real_video(body)
    return facts, media.thumbnail_jpeg(body)


def _executor() -> ProcessPoolExecutor | None:
    global _pool
    processes = int(settings.AURA_VIDEO_CHECK_PROCESSES)
    if processes <= 0:
        return None
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["videos.media"])
            _pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


async def check_clip(body: bytes) -> tuple[media.VideoFacts, bytes]:
    """``check_and_thumbnail`` off the event loop: in the check processes, or a thread."""
    pool = _executor()
    if pool is None:
        return await asyncio.to_thread(check_and_thumbnail, body)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool, check_and_thumbnail, body)
    except BrokenProcessPool:
        logger.warning("a clip check process died; the pool is started again for this clip")
        _discard(pool)
        fresh = _executor()
        if fresh is None:
            return await asyncio.to_thread(check_and_thumbnail, body)
        return await loop.run_in_executor(fresh, check_and_thumbnail, body)


def checks_stop() -> None:
    """Stop the check processes (at exit; a later check starts them again)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(checks_stop)
