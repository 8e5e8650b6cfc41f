"""The API's error shape and correlation ids (../shared/API.md §3).

Every error is ``{"error": {"code", "message", "correlation_id", ...}}``. Raise ``ApiError`` (or
ninja's ``HttpError``, ``Http404``, ``PermissionDenied``) from an API operation and the handlers in
``aura_site.api`` render it; plain Django views (SSE endpoints) use ``error_response``.
``correlation_id(request)`` is the request's id: the caller's ``X-Request-ID`` when it is a sane
token, else a new one; the API returns it in the ``X-Request-ID`` response header.
``errors(404, 409)`` declares the error shape in an operation's ``response`` for 400 and 401
(every operation) and the codes given, so the OpenAPI document lists every status it answers.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import Schema
from ninja.errors import HttpError

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_ATTRIBUTE = "_aura_correlation_id"

STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}


class ErrorDetail(Schema):
    field: str
    message: str
    type: str


class ErrorInfo(Schema):
    code: str
    message: str
    correlation_id: str
    details: list[ErrorDetail] | None = None
    run_id: str | None = None
    text: str | None = None


class ErrorResponse(Schema):
    """``{"error": {...}}``; ``details`` on bad input, ``run_id`` and ``text`` when a run that
    was waited for did not succeed (its text so far is kept)."""

    error: ErrorInfo


def errors(*statuses: int) -> dict[int, type[ErrorResponse]]:
    """The error shape for 400, 401 and ``statuses``, for an operation's ``response``."""
    return dict.fromkeys(sorted({400, 401, *statuses}), ErrorResponse)


class ApiError(HttpError):
    """An API error with a machine-readable ``code`` and optional field ``details``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status_code, message)
        self.code = code
        self.details = details
        self.retry_after = retry_after


def correlation_id(request: HttpRequest) -> str:
    existing = getattr(request, _ATTRIBUTE, None)
    if existing:
        return str(existing)
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    value = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
    setattr(request, _ATTRIBUTE, value)
    return value


def error_body(
    request: HttpRequest,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "correlation_id": correlation_id(request),
    }
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    request: HttpRequest,
    status: int,
    code: str | None = None,
    message: str = "",
    *,
    details: list[dict[str, Any]] | None = None,
    retry_after: float | None = None,
) -> JsonResponse:
    """The error shape as a response, for views outside django-ninja."""
    response = JsonResponse(
        error_body(
            request,
            code or STATUS_CODES.get(status, "error"),
            message or "The request failed.",
            details=details,
        ),
        status=status,
    )
    response[REQUEST_ID_HEADER] = correlation_id(request)
    if retry_after is not None:
        response["Retry-After"] = str(max(0, math.ceil(retry_after)))
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="aura"'
    return response
