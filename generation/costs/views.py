"""Pages of the money side that people use outside the admin: dismissing a budget notice."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aura_site.projects import live
from generation.costs.notices import notice_dismiss


@require_POST
def dismiss(request: HttpRequest, notice_id: int) -> HttpResponse:
    if not notice_dismiss(request.user, notice_id):
        raise Http404("No such notice.")
    live.dashboards_changed([request.user.pk or 0])
    back = request.headers.get("referer", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "/"
    return redirect(back)
