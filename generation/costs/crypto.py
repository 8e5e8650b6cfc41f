"""Encryption at rest for provider secrets: ``cryptography``'s MultiFernet.

Keys come from ``AURA_FIELD_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first: the
first encrypts, all decrypt). A key derived from ``SECRET_KEY`` (HKDF-SHA256) is always accepted
for decryption as the last key, and is the encryption key when ``AURA_FIELD_ENCRYPTION_KEYS`` is
empty, so ``make run`` works with no setup. To rotate: put a new key first, then run
``python manage.py rotate_credentials`` to re-encrypt every stored secret with it; after that the
old key can be removed. Generate a key with
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``.

``mask_secret`` gives the hint shown in place of a key (``sk-…abcd``), in the admin and in logs.
"""

from __future__ import annotations

import base64
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SECRET_OPTION = re.compile(r"key|token|secret|password", re.IGNORECASE)
"""Which provider options hold a secret, by name (``api_key``, ``token``, ``hf_token``…)."""


def mask_secret(value: str) -> str:
    """``sk-…abcd``: enough to recognise a key, never enough to use it."""
    if not value:
        return ""
    if len(value) <= 8:
        return "…" + value[-2:]
    head = value[:3] if value[:3].isascii() else ""
    return f"{head}…{value[-4:]}"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def derived_key(secret_key: str) -> bytes:
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"aura-studio field encryption"
    ).derive(secret_key.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


def _fernets() -> list[Fernet]:
    configured = [k for k in getattr(settings, "AURA_FIELD_ENCRYPTION_KEYS", []) if k]
    fernets: list[Fernet] = []
    for position, key in enumerate(configured, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise ImproperlyConfigured(
                f"AURA_FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    fernets.append(Fernet(derived_key(settings.SECRET_KEY)))
    return fernets


def cipher() -> MultiFernet:
    return MultiFernet(_fernets())


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return cipher().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretUnreadable(
            "a stored provider secret cannot be decrypted with the configured keys "
            "(AURA_FIELD_ENCRYPTION_KEYS or SECRET_KEY changed?)"
        ) from None


def rotate(token: str) -> str:
    """The same secret encrypted with the newest key."""
    if not token:
        return ""
    try:
        return cipher().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable("a stored provider secret cannot be decrypted") from None
