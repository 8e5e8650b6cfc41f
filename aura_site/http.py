"""The request every page view receives, and the one way a page sends its visitor on.

django-htmx's middleware gives each request ``request.htmx`` (falsy unless htmx sent it; its
``target``, ``trigger`` and ``boosted`` tell what asked). Views read it there, never from the
raw ``HX-*`` headers.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def redirect_to(request: HtmxHttpRequest, to: Any, *args: Any, **kwargs: Any) -> HttpResponse:
    """Where a page goes once a form has done its work: a 302 for a plain request; for an htmx
    request, django-htmx's client redirect (200 with ``HX-Redirect``), since htmx would follow a
    302 itself and swap the whole next page into the element that asked. ``to`` is what Django's
    ``redirect()`` takes: a URL, a URL name with its arguments, or a model."""
    url = resolve_url(to, *args, **kwargs)
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)
