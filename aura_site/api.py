"""The studio's HTTP API at /api/v1/ (../shared/API.md §3), with its OpenAPI document.

Every route authenticates with a bearer token or the session (CSRF on unsafe methods), is exempt
from ``LoginRequiredMiddleware`` (an API client gets a 401, never a redirect to the login page),
returns errors as ``{"error": {"code", "message", "correlation_id"}}`` and echoes the request's
correlation id in ``X-Request-ID``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, re_path
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from aura_site.accounts.auth import API_AUTH
from aura_site.api_errors import (
    REQUEST_ID_HEADER,
    STATUS_CODES,
    ApiError,
    correlation_id,
    error_body,
    error_response,
)
from aura_site.projects.api import router as projects_router
from aura_site.projects.services import ProjectRuleError
from generation.chain.api import router as providers_router
from generation.health.api import router as health_router
from generation.runs.api import SSE_SCHEMAS
from generation.runs.api import router as runs_router
from generation.scripts.api import router as scripts_router
from roundtable.api import router as roundtable_router
from videos.api import router as videos_router

logger = logging.getLogger(__name__)


def _mark(view: Callable[..., Any]) -> Callable[..., Any]:
    """Exempt an API view from the login redirect and stamp its correlation id."""
    if iscoroutinefunction(view):

        async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            correlation_id(request)
            response = await view(request, *args, **kwargs)
            return _finish(request, response)

        wrapped: Callable[..., Any] = async_view
    else:

        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            correlation_id(request)
            return _finish(request, view(request, *args, **kwargs))

        wrapped = sync_view
    wrapped.csrf_exempt = True  # type: ignore[attr-defined]
    return login_not_required(wrapped)


def _finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.status_code == 405 and not response.get("Content-Type", "").startswith(
        "application/json"
    ):
        allowed = response.get("Allow", "")
        response = error_response(
            request, 405, "method_not_allowed", f"This route accepts {allowed or 'other methods'}."
        )
        response["Allow"] = allowed
    response[REQUEST_ID_HEADER] = correlation_id(request)
    return response


def _api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    return error_response(request, 404, "not_found", "There is no API route at this address.")


class StudioAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """The document, with the data schema of every server-sent event the streams declare
        (``generation.runs.api.event_stream_response``) in ``components.schemas``."""
        document = super().get_openapi_schema(*args, **kwargs)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, model in sorted(SSE_SCHEMAS.items()):
            schema = model.model_json_schema(
                ref_template="#/components/schemas/{model}", by_alias=True
            )
            for nested, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(nested, definition)
            schemas.setdefault(name, schema)
        return document

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        patterns = super()._get_urls()
        patterns.append(re_path(r"^(?P<path>.+)$", _api_not_found, name="not-found"))
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = _mark(pattern.callback)
        return patterns


api = StudioAPI(
    title="Aura Studio API",
    version="1",
    description=(
        "Authenticate with `Authorization: Bearer <token>` (create one on your account page or "
        "with `manage.py createapitoken`) or the browser session with `X-CSRFToken`. Errors are "
        '`{"error": {"code", "message", "correlation_id"}}`.'
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=API_AUTH,
)


def _json_error(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    response = api.create_response(
        request, error_body(request, code, message, details=details), status=status
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="aura"'
    return response


def _field_of(loc: list[Any] | tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[2:] if len(parts) > 2 else []
    elif parts:
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [
        {
            "field": _field_of(error.get("loc", ())),
            "message": str(error.get("msg", "Invalid value.")),
            "type": str(error.get("type", "invalid")),
        }
        for error in exc.errors
    ]
    return _json_error(
        request, 400, "invalid_request", "The request has invalid fields.", details=details
    )


@api.exception_handler(DjangoValidationError)
def _django_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        details = [
            {"field": field, "message": str(message), "type": "invalid"}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        details = [{"field": "body", "message": m, "type": "invalid"} for m in exc.messages]
    return _json_error(
        request, 400, "invalid_request", "The request has invalid fields.", details=details
    )


@api.exception_handler(ProjectRuleError)
def _project_rule_error(request: HttpRequest, exc: ProjectRuleError) -> HttpResponse:
    details = (
        [{"field": exc.field, "message": exc.message, "type": exc.code}] if exc.field else None
    )
    return _json_error(request, exc.status, exc.code, exc.message, details=details)


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = exc.message if exc.message != "Unauthorized" else "Log in or send a bearer token."
    return _json_error(request, 401, "unauthenticated", message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _json_error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _json_error(request, 403, "forbidden", str(exc) or "Your role does not allow this.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, "error")
    details = getattr(exc, "details", None)
    response = _json_error(request, exc.status_code, code, exc.message, details=details)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, Throttled):
        retry_after = exc.wait
    if exc.status_code == 429 and retry_after is not None:
        response["Retry-After"] = str(max(0, math.ceil(retry_after)))
    return response


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API error (correlation id %s)", correlation_id(request))
    return _json_error(
        request,
        500,
        "internal_error",
        "Something went wrong on our side; quote the correlation id when reporting it.",
    )


api.add_router("", projects_router)
api.add_router("", health_router)
api.add_router("", providers_router)
api.add_router("", runs_router)
api.add_router("", scripts_router)
api.add_router("", roundtable_router)
api.add_router("", videos_router)

__all__ = ["ApiError", "api"]
