"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSocket routes are collected from each app's ``routing.websocket_urlpatterns``.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aura_site.settings")
django.setup(set_prefix=False)

from aura_site.asgi_handler import StudioASGIHandler  # noqa: E402

django_asgi_app = StudioASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from aura_site.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
