"""The studio's URLs and the benchmark's own route (``generation.benchmarks.settings``)."""

from __future__ import annotations

from django.urls import path

from aura_site.urls import urlpatterns as studio_urlpatterns
from generation.benchmarks.views import bench_stream

urlpatterns = [path("bench/runs/stream", bench_stream, name="bench-stream"), *studio_urlpatterns]
