from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import (
    Http404,
    HttpRequest,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.urls import Resolver404, get_script_prefix, resolve
from django.utils.encoding import escape_uri_path
from django.views.decorators.http import require_GET


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and `make run`'s own check."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:
        database = "unavailable"
    status = 200 if database == "ok" else 503
    return JsonResponse(
        {"status": "ok" if status == 200 else "degraded", "database": database}, status=status
    )


@login_not_required
def moved_under_project(
    request: HttpRequest, product: str, project_id: str, rest: str
) -> HttpResponsePermanentRedirect:
    """``/<product>/<project_id>/<rest>`` answers 301 with the same page under its project,
    ``/projects/<project_id>/<product>/<rest>``, query string kept; 404 when no page lives there.

    Nothing is looked up: the new address checks who may see it, as it does for every visitor.
    """
    new_path = f"/projects/{project_id}/{product}/{rest}"
    try:
        resolve(new_path)
    except Resolver404:
        raise Http404("No such page.") from None
    url = escape_uri_path(get_script_prefix().rstrip("/") + new_path)
    if query := request.META.get("QUERY_STRING", ""):
        url = f"{url}?{query}"
    return HttpResponsePermanentRedirect(url)
