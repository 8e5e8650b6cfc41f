"""The exceptions that end a run, or one of its parts, for a reason of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class RunFailed(Exception):
    """A handler's (or step's) own reason to end the run, or a part inside ``ctx.parallel``,
    with an error ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PartTimedOut(Exception):
    """A part's stream hit its time limit (to the first token, or in all); its text is kept."""

    code = "timeout"

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part
        self.message = message


class RunPaused(Exception):
    """Raised by a coroutine-mode handler (``ctx.pause``) to end this stretch of its run
    without ending the run: every part's text and columns are stored, ``state`` is kept as the
    run's ``state``, and no process holds the run until ``until`` or until it is woken
    (``run_wake``); the handler is then called again with that state in ``ctx.run.state``."""

    def __init__(self, until: datetime, state: dict[str, Any]) -> None:
        super().__init__("paused")
        self.until = until
        self.state = state
