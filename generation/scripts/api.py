"""Script routes of the API: ``GET /api/v1/scripts/{script_id}`` (a saved script with its
versions). Starting a script run is a runs route (``POST /api/v1/scripts[/stream]``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema

from generation.scripts import selectors
from generation.scripts.models import Script, ScriptVersion
from generation.scripts.services import script_sync_runs

router = Router(tags=["scripts"])


class VersionOut(Schema):
    number: int
    source: str
    complete: bool
    text: str
    provider: str
    model: str
    cost: Decimal
    usage: dict[str, Any]
    validation: dict[str, Any]
    run_id: UUID | None
    parent: int | None
    note: str
    created_by: str | None
    created_at: datetime
    template_output: bool


class ScriptOut(Schema):
    id: int
    project: int
    title: str
    topic: str
    status: str
    brief: dict[str, Any]
    template: str | None
    persona: int | None
    provider: str
    cost: Decimal
    current_version: int | None
    last_run_id: UUID | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    versions: list[VersionOut]


def _version_out(version: ScriptVersion) -> VersionOut:
    return VersionOut(
        number=version.number,
        source=version.source,
        complete=version.complete,
        text=version.text,
        provider=version.provider,
        model=version.model,
        cost=version.cost,
        usage={
            "input_tokens": version.input_tokens,
            "output_tokens": version.output_tokens,
            "reported": version.usage_reported,
        },
        validation=version.validation,
        run_id=version.run_id,
        parent=version.parent.number if version.parent else None,
        note=version.note,
        created_by=version.created_by.get_username() if version.created_by else None,
        created_at=version.created_at,
        template_output=version.is_template_output,
    )


def script_out(script: Script) -> ScriptOut:
    versions = list(selectors.versions_of(script))
    return ScriptOut(
        id=script.pk,
        project=script.project_id,
        title=script.title,
        topic=script.topic,
        status=script.status,
        brief=script.brief,
        template=script.template.slug if script.template else None,
        persona=script.persona_id,
        provider=script.provider,
        cost=script.cost,
        current_version=script.current_version.number if script.current_version else None,
        last_run_id=script.last_run_id,
        created_by=script.created_by.get_username() if script.created_by else None,
        created_at=script.created_at,
        updated_at=script.updated_at,
        versions=[_version_out(v) for v in versions],
    )


@router.get("/scripts/{script_id}", response=ScriptOut, summary="A saved script with its versions")
def script_detail(request: HttpRequest, script_id: int) -> ScriptOut:
    user = request.auth  # type: ignore[attr-defined]
    script, _ = selectors.script_get_any_project(user, script_id)
    script_sync_runs(script)
    script.refresh_from_db()
    return script_out(script)
