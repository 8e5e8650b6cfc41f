"""The exceptions that end a run, or one of its parts, for a reason of its own."""

from __future__ import annotations


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
