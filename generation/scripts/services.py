"""Writes of scripts, versions and personas.

The input of a ``script`` run (``Run.input``) is the body of ../shared/API.md §3 (``project``,
``topic``, ``audience``, ``tone``, ``template`` slug, ``persona`` id, ``platform``,
``duration_seconds``, ``key_points``, ``provider``, ``model``) plus, when the studio's own pages
start it: ``delivery`` (a delivery style slug), ``script_id`` (the script that receives the
version) and ``continue_version`` (the number of the version whose text the run continues).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from aura_site.projects import live
from aura_site.projects.models import Activity, Project
from generation.scripts.constants import (
    DEFAULT_DELIVERY,
    DEFAULT_PLATFORM,
    DELIVERY_BY_SLUG,
    KEY_POINT_MAX_CHARS,
    MAX_DURATION_SECONDS,
    MAX_KEY_POINTS,
    MIN_DURATION_SECONDS,
    PLATFORM_BY_SLUG,
    PRIORITIES,
    TOPIC_MAX_CHARS,
    TOPIC_MIN_CHARS,
)
from generation.scripts.models import (
    Persona,
    Script,
    ScriptStatus,
    ScriptTemplate,
    ScriptVersion,
    VersionSource,
)
from generation.scripts.prompt import brief_build
from generation.scripts.validation import validate_script

TITLE_MAX = 120


def _title_from(topic: str) -> str:
    topic = " ".join(topic.split())
    if len(topic) <= TITLE_MAX:
        return topic
    return topic[: TITLE_MAX - 1].rsplit(" ", 1)[0] + "…"


def lines_list(value: Any) -> list[str]:
    """A do/don't list from text (one item a line) or a list."""
    items = value.splitlines() if isinstance(value, str) else list(value or [])
    return [" ".join(str(item).split()) for item in items if str(item).strip()]


# ---------------------------------------------------------------------------------------------
# The brief of a script (shared by the form and the API)


def script_input_clean(project: Project, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a script request, checked against the project: raises ``ValidationError``
    with a message per field (``topic``, ``template``, ``persona``, ``platform``, ...)."""
    errors: dict[str, str] = {}
    topic = " ".join(str(data.get("topic") or "").split())
    if len(topic) < TOPIC_MIN_CHARS:
        errors["topic"] = f"Give a topic of at least {TOPIC_MIN_CHARS} characters."
    elif len(topic) > TOPIC_MAX_CHARS:
        errors["topic"] = f"Keep the topic under {TOPIC_MAX_CHARS} characters."
    platform = str(data.get("platform") or DEFAULT_PLATFORM)
    if platform not in PLATFORM_BY_SLUG:
        errors["platform"] = f"Unknown platform {platform!r}."
    delivery = str(data.get("delivery") or DEFAULT_DELIVERY)
    if delivery not in DELIVERY_BY_SLUG:
        errors["delivery"] = f"Unknown delivery style {delivery!r}."
    try:
        duration = int(data.get("duration_seconds") or 60)
    except (TypeError, ValueError):
        duration = 0
    if not MIN_DURATION_SECONDS <= duration <= MAX_DURATION_SECONDS:
        errors["duration_seconds"] = (
            f"The duration must be {MIN_DURATION_SECONDS} to {MAX_DURATION_SECONDS} seconds."
        )
    template: ScriptTemplate | None = None
    slug = str(data.get("template") or "")
    if slug:
        template = ScriptTemplate.objects.filter(slug=slug).first()
        if template is None:
            errors["template"] = f"No template named {slug!r}."
    persona: Persona | None = None
    persona_id = data.get("persona")
    if persona_id not in (None, ""):
        try:
            persona = Persona.objects.filter(project=project, pk=int(str(persona_id))).first()
        except ValueError:
            persona = None
        if persona is None:
            errors["persona"] = "No such persona in this project."
    points: list[dict[str, str]] = []
    raw_points = data.get("key_points") or []
    if not isinstance(raw_points, list):
        errors["key_points"] = "Key points must be a list."
        raw_points = []
    if len(raw_points) > MAX_KEY_POINTS:
        errors["key_points"] = f"At most {MAX_KEY_POINTS} key points."
    for index, item in enumerate(raw_points, start=1):
        text = " ".join(str((item or {}).get("text") or "").split())
        priority = str((item or {}).get("priority") or "must")
        if not text:
            continue
        if len(text) > KEY_POINT_MAX_CHARS:
            errors["key_points"] = f"Key point {index} is over {KEY_POINT_MAX_CHARS} characters."
        if priority not in PRIORITIES:
            errors["key_points"] = f"Key point {index}: priority must be must, should or nice."
        points.append({"text": text, "priority": priority})
    if errors:
        raise ValidationError(errors)
    return {
        "topic": topic,
        "audience": str(data.get("audience") or "").strip()[:200],
        "tone": str(data.get("tone") or "").strip()[:100],
        "platform": platform,
        "delivery": delivery,
        "duration_seconds": duration,
        "key_points": points,
        "template": template,
        "persona": persona,
    }


def script_create(*, project: Project, user: Any, cleaned: dict[str, Any]) -> Script:
    """A new script (no version yet) from ``script_input_clean``'s result."""
    template: ScriptTemplate | None = cleaned.get("template")
    persona: Persona | None = cleaned.get("persona")
    brief = brief_build(
        topic=cleaned["topic"],
        audience=cleaned.get("audience", ""),
        tone=cleaned.get("tone", ""),
        platform=cleaned.get("platform", DEFAULT_PLATFORM),
        duration_seconds=cleaned.get("duration_seconds", 60),
        delivery=cleaned.get("delivery", DEFAULT_DELIVERY),
        key_points=cleaned.get("key_points", []),
        template=template,
        persona=persona,
    )
    return Script.objects.create(
        project=project,
        title=_title_from(cleaned["topic"]),
        topic=cleaned["topic"],
        brief=brief,
        template=template,
        persona=persona,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        status=ScriptStatus.GENERATING,
    )


def script_brief_refresh(script: Script) -> dict[str, Any]:
    """The script's brief with its persona as it is now (a persona edited since applies)."""
    brief = dict(script.brief)
    persona = Persona.objects.filter(pk=script.persona_id).first() if script.persona_id else None
    brief["persona"] = persona.as_brief() if persona else None
    if brief != script.brief:
        script.brief = brief
        script.save(update_fields=["brief", "updated_at"])
    return brief


def cost_ceiling_of(value: Any) -> Decimal | None:
    """A cost ceiling as typed or stored (digits), or None when there is none or it is not a
    non-negative amount."""
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def script_run_input(
    script: Script,
    *,
    provider: str,
    model: str = "",
    continue_version: int | None = None,
    max_cost_usd: Any = None,
) -> dict[str, Any]:
    """What a page puts in ``Run.input`` to (re)generate or continue a script
    (``max_cost_usd``: the cost ceiling for fallbacks, as a string of digits)."""
    brief = script.brief
    data: dict[str, Any] = {
        "project": script.project_id,
        "topic": script.topic,
        "audience": brief.get("audience", ""),
        "tone": brief.get("tone", ""),
        "template": script.template.slug if script.template else "",
        "persona": script.persona_id,
        "platform": brief.get("platform", DEFAULT_PLATFORM),
        "duration_seconds": brief.get("duration_seconds", 60),
        "key_points": brief.get("key_points", []),
        "provider": provider or "auto",
        "model": model,
        "delivery": brief.get("delivery", DEFAULT_DELIVERY),
        "script_id": script.pk,
    }
    if continue_version is not None:
        data["continue_version"] = continue_version
    if max_cost_usd is not None:
        data["max_cost_usd"] = format(max_cost_usd, "f")
    return data


def script_mark_started(script: Script, run_id: Any, actor: Any = None) -> None:
    """The script is being written by run ``run_id``; the project's activity says who started
    it (once per run)."""
    started = str(script.last_run_id or "") != str(run_id)
    script.status = ScriptStatus.GENERATING
    script.last_run_id = run_id
    script.save(update_fields=["status", "last_run_id", "updated_at"])
    if started:
        _activity(script, actor, f"started writing the script “{script.title}”")
    live.project_changed(script.project_id, ["scripts"])


def _activity(script: Script, actor: Any, verb: str) -> None:
    Activity.objects.create(project_id=script.project_id, actor=actor, verb=verb[:200])


# ---------------------------------------------------------------------------------------------
# Versions


@dataclass(frozen=True, slots=True)
class RunOutput:
    run_id: Any
    provider: str
    model: str
    cost: Decimal
    input_tokens: int
    output_tokens: int
    usage_reported: bool


def script_version_add(
    script: Script,
    *,
    text: str,
    source: str,
    user: Any = None,
    complete: bool = True,
    output: RunOutput | None = None,
    validation: dict[str, Any] | None = None,
    parent: ScriptVersion | None = None,
    note: str = "",
) -> ScriptVersion:
    """Append a version (numbered 1, 2, 3, ... per script) and make it current when complete."""
    if validation is None and complete:
        validation = validate_script(text, script.brief)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                number = (script.versions.aggregate(n=Max("number"))["n"] or 0) + 1
                version = ScriptVersion.objects.create(
                    script=script,
                    number=number,
                    text=text,
                    source=source,
                    complete=complete,
                    run_id=output.run_id if output else None,
                    provider=output.provider if output else "",
                    model=output.model if output else "",
                    cost=output.cost if output else Decimal("0"),
                    input_tokens=output.input_tokens if output else 0,
                    output_tokens=output.output_tokens if output else 0,
                    usage_reported=output.usage_reported if output else False,
                    validation=validation or {},
                    parent=parent,
                    note=note[:300],
                    created_by=user if getattr(user, "is_authenticated", False) else None,
                )
                fields = ["cost", "updated_at"]
                script.cost = (script.cost or Decimal("0")) + version.cost
                if complete or script.current_version_id is None:
                    script.current_version = version
                    fields.append("current_version")
                if output:
                    script.provider = output.provider
                    fields.append("provider")
                script.save(update_fields=fields)
                return version
        except IntegrityError:
            continue
    raise IntegrityError("Could not number the new version.")


def script_status_set(script: Script, status: str) -> None:
    script.status = status
    script.save(update_fields=["status", "updated_at"])


def script_edit(
    script: Script, *, user: Any, text: str, base: ScriptVersion | None, note: str = ""
) -> ScriptVersion:
    """A hand edit: a new version with its own validation report."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ValidationError({"text": "The script cannot be empty."})
    version = script_version_add(
        script,
        text=text,
        source=VersionSource.EDIT,
        user=user,
        parent=base,
        note=note or "Edited by hand",
    )
    status = ScriptStatus.READY if version.validation.get("passed") else ScriptStatus.NEEDS_REVIEW
    if script.status != ScriptStatus.GENERATING:
        script_status_set(script, status)
    return version


_ENDED_STATUS = {
    "failed": ScriptStatus.FAILED,
    "cancelled": ScriptStatus.CANCELLED,
    "interrupted": ScriptStatus.INTERRUPTED,
}


def script_run_ended(run: Any, status: str) -> None:
    """The script kind's ``on_end``: on every ending of a script's run (in the transaction that
    ends it), the script takes its true state. Text the run produced that no version holds yet
    (its process died, or it was cancelled before its handler could save) becomes an unfinished
    version, so it can be continued."""
    script = Script.objects.filter(project_id=run.project_id, last_run_id=run.pk).first()
    if script is None:
        return
    if run.text.strip() and not script.versions.filter(run_id=run.pk).exists():
        label = str(status).capitalize()
        script_version_add(
            script,
            text=run.text,
            source=VersionSource.RUN,
            complete=False,
            output=RunOutput(
                run.pk,
                run.provider,
                run.model,
                run.cost,
                run.input_tokens,
                run.output_tokens,
                run.usage_reported,
            ),
            note=f"Run {label.lower()}: {run.error_message}"
            if run.error_message
            else f"Run {label.lower()}",
        )
        script.refresh_from_db()
    if status == "succeeded":
        script_status_set(script, _status_of(script.current_version))
    else:
        script_status_set(script, _ENDED_STATUS.get(status, ScriptStatus.FAILED))
    if status == "cancelled" and run.cancelled_by_id is not None:
        _activity(script, run.cancelled_by, f"cancelled the script “{script.title}”")
    elif status == "succeeded":
        _activity(script, run.created_by, f"finished the script “{script.title}”")
    else:
        _activity(script, run.created_by, f"ran the script “{script.title}”, which {status}")
    live.project_changed(script.project_id, ["scripts"])


def _status_of(version: ScriptVersion | None) -> str:
    if version is None:
        return ScriptStatus.FAILED
    if not version.complete:
        return ScriptStatus.INTERRUPTED
    passed = bool(version.validation.get("passed"))
    return ScriptStatus.READY if passed else ScriptStatus.NEEDS_REVIEW


# ---------------------------------------------------------------------------------------------
# Personas


def persona_save(
    *, project: Project, user: Any, data: dict[str, Any], persona: Persona | None = None
) -> Persona:
    persona = persona or Persona(project=project, created_by=user)
    persona.name = " ".join(str(data.get("name") or "").split())
    persona.voice = str(data.get("voice") or "").strip()
    persona.audience = str(data.get("audience") or "").strip()
    persona.do = lines_list(data.get("do"))
    persona.dont = lines_list(data.get("dont"))
    if (
        Persona.objects.filter(project=project, name__iexact=persona.name)
        .exclude(pk=persona.pk)
        .exists()
    ):
        raise ValidationError({"name": "This project already has a persona with that name."})
    persona.full_clean(exclude=["project", "created_by"])
    persona.save()
    return persona


def persona_delete(persona: Persona) -> None:
    persona.delete()
