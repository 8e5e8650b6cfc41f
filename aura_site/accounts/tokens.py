"""Issuing, checking and revoking personal API tokens.

A token reads ``aura_<prefix>_<secret>``: the prefix (8 hex characters) finds the row, the
SHA-256 of the whole token is compared in constant time, and only the hash is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from aura_site.accounts.models import ApiToken

TOKEN_SCHEME = "aura"  # noqa: S105
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _parse(raw: str) -> str | None:
    """The prefix of a well-formed token, or None."""
    scheme, _, rest = raw.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != TOKEN_SCHEME or len(prefix) != 8 or len(secret) < 32:
        return None
    return prefix


def token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the only copy of the raw token."""
    for _attempt in range(5):
        prefix = secrets.token_hex(4)
        raw = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user, name=name.strip(), prefix=prefix, secret_hash=_hash(raw)
                )
        except IntegrityError:
            continue
        return token, raw
    raise RuntimeError("Could not find a free token prefix.")


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(raw: str) -> Any | None:
    """The active user a raw token belongs to, or None; records when it was last used."""
    prefix = _parse(raw.strip())
    if prefix is None:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(raw.strip())):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def tokens_for_user(user: Any) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user))
