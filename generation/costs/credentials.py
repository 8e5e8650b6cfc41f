"""Reading staff-entered provider credentials, briefly cached, rotating their encryption and
testing them.

Decrypted values stay in this process's memory only (never in the shared cache). A save or
delete bumps a version number in Django's cache, so every process drops its copy at its next
read; the copy also expires after ``TTL`` seconds.

Testing a key takes a real call to the provider, which the costs app does not make itself: the
provider registries (LLM and video) register their testers (``key_tester_register``) when their
apps are ready, and ``credential_test`` calls the one for the alias.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from generation.costs import crypto
from generation.costs.models import ProviderCredential

TTL = 30.0
VERSION_KEY = "aura:credentials:version"

_lock = threading.Lock()
_cached: tuple[float, Any, dict[str, dict[str, str]]] | None = None

KeyTester = Callable[[str], str]
"""Given a provider alias, checks the key and settings in effect for it with the cheapest real
call; returns a short note, or raises ``KeyTestFailed`` (or any exception) saying why not."""

_key_testers: list[tuple[Callable[[str], bool], KeyTester]] = []


class KeyTestFailed(Exception):
    """A provider's key or settings did not work; the message says how (``auth: …``)."""


def credential_overrides() -> dict[str, dict[str, str]]:
    """alias -> the OPTIONS staff set for it (decrypted), for enabled rows."""
    global _cached
    version = cache.get(VERSION_KEY, 0)
    with _lock:
        if _cached is not None:
            loaded_at, cached_version, values = _cached
            if cached_version == version and time.monotonic() - loaded_at < TTL:
                return values
    values = {}
    for credential in ProviderCredential.objects.filter(enabled=True):
        try:
            values[credential.provider] = credential.options()
        except crypto.SecretUnreadable:
            values[credential.provider] = {
                k: v for k, v in credential.options_without_key().items() if v
            }
    with _lock:
        _cached = (time.monotonic(), version, values)
    return values


def credentials_invalidate() -> None:
    global _cached
    with _lock:
        _cached = None
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, 1, timeout=None)


@receiver(post_save, sender=ProviderCredential)
@receiver(post_delete, sender=ProviderCredential)
def _credential_changed(**kwargs: Any) -> None:
    credentials_invalidate()


def key_tester_register(
    tester: KeyTester, *, handles: Callable[[str], bool] = lambda alias: True
) -> None:
    """Register the tester of the aliases ``handles`` accepts (the LLM registry, the video
    registry); the last one registered for an alias wins. Registering a tester again replaces
    it."""
    _key_testers[:] = [(h, t) for h, t in _key_testers if t is not tester]
    _key_testers.append((handles, tester))


def credential_test(alias: str) -> str:
    """The note of the registered tester for ``alias``'s key; raises when it fails."""
    for handles, tester in reversed(_key_testers):
        if handles(alias):
            return tester(alias)
    raise KeyTestFailed("no key test is available (no provider registry is installed)")


def credentials_rotate(credentials: Iterable[ProviderCredential] | None = None) -> int:
    """Re-encrypt stored keys with the newest key; returns how many were rewritten."""
    rows = ProviderCredential.objects.all() if credentials is None else credentials
    count = 0
    for credential in rows:
        if not credential.api_key_encrypted:
            continue
        rotated = crypto.rotate(credential.api_key_encrypted)
        ProviderCredential.objects.filter(pk=credential.pk).update(api_key_encrypted=rotated)
        count += 1
    credentials_invalidate()
    return count


def provider_setup_urls(user: Any, aliases: Iterable[str]) -> dict[str, str]:
    """For staff who may enter provider keys: alias -> the admin page that sets the provider
    up (its stored settings when it has a row, else a new row for it). Nobody else gets any."""
    from urllib.parse import urlencode

    from django.urls import reverse

    wanted = list(aliases)
    if not wanted or not getattr(user, "is_staff", False):
        return {}
    can_add = user.has_perm("costs.add_providercredential")
    can_change = user.has_perm("costs.change_providercredential")
    rows = dict(
        ProviderCredential.objects.filter(provider__in=wanted).values_list("provider", "pk")
    )
    urls = {}
    for alias in wanted:
        if alias in rows and can_change:
            urls[alias] = reverse("admin:costs_providercredential_change", args=[rows[alias]])
        elif alias not in rows and can_add:
            add = reverse("admin:costs_providercredential_add")
            urls[alias] = f"{add}?{urlencode({'provider': alias})}"
    return urls
