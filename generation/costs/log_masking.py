"""No provider secret in the studio's logs, whoever logs it.

The studio remembers every provider secret it is handed (the secret options of
``LLM_PROVIDERS`` and ``VIDEO_PROVIDERS``, again whenever those settings change, and each key
decrypted from the database), and a log record factory replaces any of them in a record's
message and exception text with its hint (``sk-…abcd``) as the record is made, before any handler
formats it. An adapter already masks the secrets a provider quotes back in its errors; this
catches the rest: a traceback of an unexpected exception, a third-party library's debug line.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from generation.costs.crypto import SECRET_OPTION, mask_secret

SHORTEST = 8

_lock = threading.Lock()
_known: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None


def remember(values: Iterable[str]) -> None:
    """Mask each of ``values`` (eight characters or more) in every log record from now on."""
    global _known, _pattern
    fresh = {v for v in values if isinstance(v, str) and len(v) >= SHORTEST} - _known
    if not fresh:
        return
    with _lock:
        _known = _known | fresh
        longest_first = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in longest_first))


def secrets_in_options(providers: Any) -> list[str]:
    """The secret option values of a ``LLM_PROVIDERS`` / ``VIDEO_PROVIDERS``-shaped setting."""
    found: list[str] = []
    if not isinstance(providers, dict):
        return found
    for entry in providers.values():
        options = entry.get("OPTIONS", {}) if isinstance(entry, dict) else {}
        if isinstance(options, dict):
            found += [v for k, v in options.items() if SECRET_OPTION.search(str(k))]
    return found


def masked(text: str) -> str:
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(lambda m: mask_secret(m.group(0)), text)


def _masking_factory(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if _pattern is None:
            return record
        try:
            message = record.getMessage()
        except Exception:
            return record
        clean = masked(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = masked(text)
        return record

    factory.aura_masking = True  # type: ignore[attr-defined]
    return factory


def install() -> None:
    """Put the masking record factory in place (once) and remember the configured secrets."""
    from django.core.signals import setting_changed

    current = logging.getLogRecordFactory()
    if not getattr(current, "aura_masking", False):
        logging.setLogRecordFactory(_masking_factory(current))
    remember_settings()
    setting_changed.connect(_on_setting_changed, dispatch_uid="aura-log-masking")


def remember_settings() -> None:
    from django.conf import settings

    for name in ("LLM_PROVIDERS", "VIDEO_PROVIDERS"):
        remember(secrets_in_options(getattr(settings, name, {})))


def _on_setting_changed(*, setting: str, value: Any, **_: Any) -> None:
    if setting in ("LLM_PROVIDERS", "VIDEO_PROVIDERS"):
        remember(secrets_in_options(value))
