"""Which coroutine executes a run of each kind.

``register_kind(kind, handler)`` plugs a pipeline in; ``execute_run`` calls ``handler_for(kind)``
with a ``RunContext``. The handler returns the extra fields of the ``done`` event (for a
script: ``script_id``, ``validation``).

The ``AURA_RUN_HANDLERS`` setting (kind -> dotted path; a Django setting, not an environment
variable) overrides any registration, for a deployment or a benchmark that needs a given
handler. Otherwise, precedence is well defined whatever the order apps load in: a registration
made with ``default=True`` (the simple built-in handlers of this app) never replaces a full one,
and a full registration (``default=False``, the normal call) replaces a default one. Between two
full registrations of the same kind, the later one wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from generation.runs.context import RunContext

Handler = Callable[["RunContext"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class _Registration:
    handler: Handler
    default: bool


_registry: dict[str, _Registration] = {}


class UnknownRunKind(LookupError):
    pass


def register_kind(kind: str, handler: Handler, *, default: bool = False) -> None:
    current = _registry.get(kind)
    if default and current is not None and not current.default:
        return
    _registry[kind] = _Registration(handler, default)


def handler_for(kind: str) -> Handler:
    configured = getattr(settings, "AURA_RUN_HANDLERS", {}).get(kind)
    if configured:
        return cast(Handler, import_string(configured))
    try:
        return _registry[kind].handler
    except KeyError:
        raise UnknownRunKind(f"No handler is registered for runs of kind {kind!r}.") from None


@contextmanager
def kind_override(kind: str, handler: Handler) -> Iterator[None]:
    """Use ``handler`` for ``kind`` inside the block, then restore the registration (tests and
    benchmarks that need a handler of their own)."""
    previous = _registry.get(kind)
    _registry[kind] = _Registration(handler, False)
    try:
        yield
    finally:
        if previous is None:
            _registry.pop(kind, None)
        else:
            _registry[kind] = previous


def registered_kinds() -> dict[str, bool]:
    """Each registered kind and whether its handler is the built-in default."""
    return {kind: registration.default for kind, registration in _registry.items()}
