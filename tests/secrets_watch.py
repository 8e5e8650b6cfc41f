"""What the suite logs, kept so that its last test can look for the secrets the tests used.

Every log record of the test process (at INFO and above, as the studio logs by default) is
formatted, exception text included, and kept; the logs of the studio processes the browser and
scaled-out tests start are added when they stop. ``leaks()`` lists each test key, API token or
session id found in them. The test keys are the ``api_key`` values the test sources use (seven
characters or more, so that short words like ``k`` are not mistaken for keys).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
_KEY_LITERAL = re.compile(r"""(?:api_key|API_KEY)["']?\s*[:=]\s*["']([A-Za-z0-9_\-]{7,})["']""")
API_TOKEN = re.compile(r"\baura_[0-9a-f]{8}_[A-Za-z0-9_\-]{43}\b")
SESSION_COOKIE = re.compile(r"sessionid=[a-z0-9]{32}")


def test_keys() -> set[str]:
    """The provider keys the test sources hand the studio."""
    found: set[str] = set()
    for source in TESTS.rglob("*.py"):
        found.update(_KEY_LITERAL.findall(source.read_text(errors="replace")))
    return found


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(self.format(record))
        except Exception:
            self.texts.append(str(record.msg))


_kept = _Keep()


def install() -> None:
    root = logging.getLogger()
    if _kept not in root.handlers:
        root.addHandler(_kept)


def add(text: str) -> None:
    """Keep ``text`` (a studio process's log) with the suite's own records."""
    if text:
        _kept.texts.append(text)


def kept() -> list[str]:
    return list(_kept.texts)


def records() -> int:
    return len(_kept.texts)


def leaks(texts: list[str] | None = None) -> list[str]:
    """Each secret found in what was kept (or in ``texts``), with the line it was on."""
    keys = test_keys()
    found: list[str] = []
    for text in _kept.texts if texts is None else texts:
        for line in text.splitlines():
            for key in keys:
                if key in line:
                    found.append(f"test key {key!r}: {line[:300]}")
            if API_TOKEN.search(line):
                found.append(f"an API token: {line[:300]}")
            if SESSION_COOKIE.search(line):
                found.append(f"a session id: {line[:300]}")
    return found
