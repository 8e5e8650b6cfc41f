"""A URLconf for the request-thread test: a synchronous view that blocks until released, and a
quick one."""

from __future__ import annotations

import threading

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

release = threading.Event()
entered = threading.Event()


@login_not_required
def slow(request: HttpRequest) -> HttpResponse:
    entered.set()
    release.wait(timeout=30)
    return HttpResponse("slow")


@login_not_required
def quick(request: HttpRequest) -> HttpResponse:
    return HttpResponse("quick")


urlpatterns = [path("slow/", slow), path("quick/", quick)]
