"""Serve the studio: Daphne on uvloop's event loop.

``python -m aura_site.serve [Daphne's options] aura_site.asgi:application`` takes every option
of ``python -m daphne`` (``make run`` uses it). Daphne runs Twisted on an asyncio event loop that
it creates when it is imported; this sets uvloop's event loop policy first, so that loop, and
every loop of the process, is uvloop's. With hundreds of runs streaming, the event loop's own
work (readiness polling, timers, callbacks, the providers' socket reads) is a large share of the
server's time, and uvloop does it in C: the runs benchmark's batch delay p99 at 100 concurrent
runs fell from 61-129 ms to 43-70 ms. Without uvloop (an unsupported platform) Daphne runs on
asyncio's own loop.
"""

from __future__ import annotations

import asyncio


def main() -> None:
    try:
        import uvloop
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
