"""The studio's HTTP API at /api/v1/ (../shared/API.md §3), with its OpenAPI document."""

from __future__ import annotations

from ninja import NinjaAPI

from aura_site.projects.api import router as projects_router
from generation.providers.api import router as providers_router
from generation.runs.api import router as runs_router
from generation.scripts.api import router as scripts_router

api = NinjaAPI(
    title="Aura Studio API",
    version="1",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
api.add_router("", projects_router)
api.add_router("", providers_router)
api.add_router("", runs_router)
api.add_router("", scripts_router)
