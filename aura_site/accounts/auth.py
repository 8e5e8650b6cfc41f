"""Who is calling: the browser session or a personal API token.

``user_from_request(request)`` is for plain Django views (for example SSE endpoints, which should
also be ``@login_not_required`` so that token clients are not redirected to the login page). When
an ``Authorization: Bearer`` header is present only the token counts (a bad token is refused even
with a valid session); otherwise the session user is returned. It does not check CSRF: views that
change state through the session must keep Django's CSRF protection.

Bad tokens are throttled per client address (``aura_site.accounts.throttle``): past the limit,
the API answers 429 with ``Retry-After`` and plain views treat the caller as anonymous, without
looking the token up. Only failures count, so many concurrent good requests from one address are
never refused; the counter is read before the check, so a burst of bad tokens arriving together
may get a few checks past the limit (a token's 256-bit secret makes that harmless, unlike a
password, whose form takes its place before the check).

``API_AUTH`` is the django-ninja auth list of the API: a bearer token, or the session with CSRF
checked on unsafe methods.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from aura_site.accounts import throttle
from aura_site.accounts.tokens import token_authenticate
from aura_site.api_errors import ApiError


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` header ("" if the header is malformed)."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return value.strip()


def token_user(request: HttpRequest, token: str) -> Any | None:
    """The user of ``token``, or None for a bad one (counted against the caller's address);
    ``throttle.Throttled`` once the address has failed too often."""
    counters = throttle.token_counters(throttle.client_address(request))
    if throttle.throttled(counters):
        raise throttle.Throttled()
    user = token_authenticate(token) if token else None
    if user is None:
        throttle.failure_record(counters)
    return user


def _token_user_or_none(request: HttpRequest, token: str) -> Any | None:
    try:
        return token_user(request, token)
    except throttle.Throttled:
        return None


def user_from_request(request: HttpRequest) -> Any | None:
    token = bearer_token(request)
    if token is not None:
        return _token_user_or_none(request, token)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return None


async def auser_from_request(request: HttpRequest) -> Any | None:
    """``user_from_request`` for async views."""
    token = bearer_token(request)
    if token is not None:
        return await sync_to_async(_token_user_or_none)(request, token)
    user = await request.auser()
    return user if user.is_authenticated else None


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer aura_…``; a present but wrong token is a 401, never a fallback."""

    def __call__(self, request: HttpRequest) -> Any | None:
        token = bearer_token(request)
        if token is None:
            return None
        try:
            user = token_user(request, token)
        except throttle.Throttled as exc:
            raise ApiError(
                429, "rate_limited", throttle.THROTTLED_MESSAGE, retry_after=exc.retry_after
            ) from None
        if user is None:
            raise AuthenticationError(401, "The API token is not valid or has been revoked.")
        request.user = user
        return user

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        return token_authenticate(token)


class SessionCsrfAuth(APIKeyCookie):
    """The browser session; unsafe methods must carry the CSRF token (``X-CSRFToken``)."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise ApiError(403, "csrf_failed", "CSRF check failed: send the X-CSRFToken header.")
        return user


API_AUTH = [ApiTokenAuth(), SessionCsrfAuth()]
