"""The Celery application: used when AURA_RUNNER=celery (the scaled-out mode)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aura_site.settings")

app = Celery("aura_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
