"""The chair: the people of a project steering a live roundtable.

An editor adds a **note** (it goes into every prompt built after it), **pins** a point of an
agent's analysis (the synthesis must keep it) or **vetoes** one (it must not), and **answers**
an agent's question. Each is stored first (``ChairEntry``, ``ChairQuestion``), then written to
the session's run log as an event (``chair_note``, ``chair_pin``, ``chair_veto``,
``user_input_response``) by whoever may write it: the session's executor (its watcher sweeps
the stored entries about twice a second) while the session runs, or the request itself while
the session is paused (``append_while_waiting``, under the run's lock), and once more right
after a pause is stored (the kind's ``on_pause``), so none is lost between the two.

An agent asks by ending its analysis with the block the analysis prompt describes::

    QUESTION: <one question to the chair>
    OPTIONS: <option> | <option> [| <option> | <option>]
    DEFAULT: <one of the options>

``question_parse`` reads it (the last such block; two to four distinct options; a default that
is not one of the options becomes the first) and ignores anything malformed.

The pin and veto check (``marks_check``): a point's key words are its words of four letters or
more, lower-cased, without common words and without the words of the brief (which every text
of the session shares). A pinned point is kept when at least half of its key words appear in
the synthesis; a vetoed point is present when at least half of them do. A point with no key
words left is not checked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generation.runs.events import LogItem, append_while_waiting, publish_many
from generation.runs.models import Run
from generation.runs.services import run_wake
from roundtable.agents import AGENT_BY_KEY
from roundtable.models import ChairEntry, ChairKind, ChairQuestion, PartVersion, Session

NOTE_MAX = 500
ANSWER_MAX = 500
POINT_MAX = 1000
QUESTION_MAX = 300
OPTION_MAX = 120


class ChairClosed(Exception):
    """The chair cannot take this any more: the session ended, or the question was answered
    or timed out (409)."""


def answer_minutes() -> float:
    return float(settings.AURA_CHAIR_ANSWER_MINUTES)


# ---- an agent's question --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asked:
    question: str
    options: list[str]
    default: str


_LINE = re.compile(r"^[ \t>*_-]*(QUESTION|OPTIONS|DEFAULT)[ \t*_]*:[ \t]*(.*)$", re.I | re.M)


def _clean(value: str, limit: int) -> str:
    return " ".join(value.replace("*", " ").split()).strip(" .\"'“”")[:limit]


def question_parse(text: str) -> Asked | None:
    """The question an analysis ends with, or None (none, or not in the asked form)."""
    found = list(_LINE.finditer(text or ""))
    question_at = [i for i, m in enumerate(found) if m.group(1).upper() == "QUESTION"]
    if not question_at:
        return None
    block = found[question_at[-1] :]
    fields: dict[str, str] = {}
    for match in block:
        fields.setdefault(match.group(1).upper(), match.group(2))
    question = _clean(fields.get("QUESTION", ""), QUESTION_MAX)
    raw = fields.get("OPTIONS", "")
    pieces = raw.split("|") if "|" in raw else re.split(r"\s*;\s*|\s+/\s+", raw)
    options: list[str] = []
    for piece in pieces:
        option = _clean(re.sub(r"^\s*(?:\(?[a-dA-D1-4][).:]\s+)", "", piece), OPTION_MAX)
        if option and option.lower() not in {o.lower() for o in options}:
            options.append(option)
    if len(question) < 5 or not 2 <= len(options) <= 4:
        return None
    wanted = _clean(fields.get("DEFAULT", ""), OPTION_MAX).lower()
    default = next((o for o in options if o.lower() == wanted), None)
    if default is None:
        default = next((o for o in options if wanted and wanted in o.lower()), options[0])
    return Asked(question, options, default)


def question_strip(text: str) -> str:
    """The analysis without its question block (what the synthesis reads beside the answer)."""
    found = [m for m in _LINE.finditer(text or "") if m.group(1).upper() == "QUESTION"]
    if not found or question_parse(text) is None:
        return text
    return text[: found[-1].start()].rstrip()


# ---- points, and the pin and veto check ------------------------------------------------------

_STOP = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "against",
        "also",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "could",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "every",
        "from",
        "further",
        "have",
        "having",
        "here",
        "into",
        "itself",
        "just",
        "more",
        "most",
        "much",
        "must",
        "only",
        "other",
        "over",
        "same",
        "shall",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "want",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
        "yours",
        "shot",
        "shots",
        "video",
        "frame",
        "frames",
        "keep",
        "make",
        "made",
        "like",
    ]
)
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*[a-z0-9]")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 4}


def key_words(point: str, brief: str = "") -> set[str]:
    return _words(point) - _STOP - _words(brief)


def points_of(text: str) -> list[str]:
    """An analysis cut into its points: its bullets, else its sentences."""
    text = question_strip(text or "")
    points: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        bullet = re.match(r"^(?:[-*•]|\d+[.)])\s+(.*)$", line)
        pieces = [bullet.group(1)] if bullet else re.split(r"(?<=[.!?])\s+(?=[A-Z0-9“\"(])", line)
        points.extend(p.strip() for p in pieces if len(p.strip()) >= 12)
    return points


@dataclass(frozen=True, slots=True)
class MarkCheck:
    missing: list[str]
    """Pinned points the synthesis does not keep."""
    present: list[str]
    """Vetoed points the synthesis still has."""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.present


def _share(point: str, synthesis: str, brief: str) -> float | None:
    words = key_words(point, brief)
    if not words:
        return None
    return len(words & _words(synthesis)) / len(words)


def marks_check(
    synthesis: str, pins: Iterable[str], vetoes: Iterable[str], brief: str
) -> MarkCheck:
    missing = [
        p for p in pins if (share := _share(p, synthesis, brief)) is not None and share < 0.5
    ]
    present = [
        p for p in vetoes if (share := _share(p, synthesis, brief)) is not None and share >= 0.5
    ]
    return MarkCheck(missing, present)


# ---- what the prompts read -------------------------------------------------------------------


@dataclass(slots=True)
class ChairContext:
    notes: list[str]
    pins: list[str]
    vetoes: list[str]
    answers: list[dict[str, Any]]


def chair_context(session_id: int) -> ChairContext:
    entries = list(ChairEntry.objects.filter(session_id=session_id))
    questions = ChairQuestion.objects.filter(session_id=session_id).exclude(
        answered_at__isnull=True, timed_out=False
    )
    return ChairContext(
        notes=[e.text for e in entries if e.kind == ChairKind.NOTE],
        pins=[e.text for e in entries if e.kind == ChairKind.PIN],
        vetoes=[e.text for e in entries if e.kind == ChairKind.VETO],
        answers=[
            {
                "agent": q.agent,
                "question": q.question,
                "answer": q.answer,
                "timed_out": q.timed_out,
            }
            for q in questions
        ],
    )


# ---- events ----------------------------------------------------------------------------------


def _username(user: Any) -> str | None:
    return str(user.get_username()) if user is not None else None


def entry_event(entry: ChairEntry) -> tuple[str, dict[str, Any], str]:
    data: dict[str, Any] = {
        "id": entry.pk,
        "by": _username(entry.by),
        "text": entry.text,
        "at": entry.created_at.isoformat(),
    }
    if entry.kind != ChairKind.NOTE:
        data["agent"] = entry.agent
    return f"chair_{entry.kind}", data, ""


def response_event(question: ChairQuestion) -> tuple[str, dict[str, Any], str]:
    return (
        "user_input_response",
        {
            "request_id": str(question.request_id),
            "agent": question.agent,
            "by": _username(question.answered_by),
            "answer": question.answer,
            "timed_out": question.timed_out,
        },
        question.agent,
    )


def request_event(question: ChairQuestion) -> tuple[str, dict[str, Any], str]:
    return (
        "user_input_request",
        {
            "request_id": str(question.request_id),
            "agent": question.agent,
            "question": question.question,
            "options": list(question.options),
            "default": question.default,
            "expires_at": question.expires_at.isoformat(),
        },
        question.agent,
    )


def pending_events(session_id: int) -> list[tuple[str, dict[str, Any], str]]:
    """The chair's stored entries and answers whose events are not in the log yet, marked as
    written (sync; the caller writes them)."""
    entries = list(
        ChairEntry.objects.filter(session_id=session_id, emitted=False).select_related("by")
    )
    answered = list(
        ChairQuestion.objects.filter(
            session_id=session_id, response_emitted=False, answered_at__isnull=False
        ).select_related("answered_by")
    )
    ChairEntry.objects.filter(pk__in=[e.pk for e in entries]).update(emitted=True)
    ChairQuestion.objects.filter(pk__in=[q.pk for q in answered]).update(response_emitted=True)
    items = [(e.created_at, entry_event(e)) for e in entries]
    items += [(q.answered_at or q.created_at, response_event(q)) for q in answered]
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


def chair_flush(run_id: Any, session_id: int) -> list[LogItem]:
    """Write the pending chair events to a paused session's log (sync; nothing while its
    executor runs: the executor's watcher writes them)."""
    with transaction.atomic():
        return append_while_waiting(run_id, lambda: pending_events(session_id))


def session_paused(run: Run) -> None:
    """The roundtable kind's ``on_pause``: the entries that came while it paused."""
    session_id = run.input.get("session_id")
    if session_id:
        items = chair_flush(run.pk, int(session_id))
        if items:
            async_to_sync(publish_many)(items)


# ---- what pages show -------------------------------------------------------------------------


def chair_view(run: Run, session_id: int) -> dict[str, Any]:
    """The chair's log (notes, pins, vetoes, questions and answers, oldest first), the open
    questions, and each agent's pinned and vetoed points, for the panel."""
    entries = list(ChairEntry.objects.filter(session_id=session_id).select_related("by"))
    questions = list(
        ChairQuestion.objects.filter(session_id=session_id).select_related("answered_by")
    )
    log: list[tuple[Any, dict[str, Any]]] = []
    for entry in entries:
        event, data, _ = entry_event(entry)
        log.append((entry.created_at, {"event": event, **data}))
    for question in questions:
        event, data, _ = request_event(question)
        log.append((question.created_at, {"event": event, **data}))
        if not question.is_open:
            event, data, _ = response_event(question)
            log.append((question.answered_at or question.expires_at, {"event": event, **data}))
    for at, data in run.events.filter(event="chair_check").values_list("created_at", "data"):
        log.append((at, {"event": "chair_check", **data}))
    log.extend((at, item) for at, item, _ in rerun_items(session_id))
    marks: dict[str, dict[str, list[str]]] = {}
    for entry in entries:
        if entry.kind != ChairKind.NOTE:
            marks.setdefault(entry.agent, {"pin": [], "veto": []})[entry.kind].append(entry.text)
    return {
        "session_id": session_id,
        "log": [log_item(item) for _, item in sorted(log, key=lambda pair: pair[0])],
        "open": [question_block(q) for q in questions if q.is_open],
        "marks": marks,
        "active": run.is_active,
    }


def rerun_items(session_id: int) -> list[tuple[datetime, dict[str, Any], Run]]:
    """Each re-run of the session's parts as a line of the chair's log (oldest first): who
    asked for which part, on which provider, with what note, its state and what it cost."""
    from roundtable.versions import RERUN_KIND, part_label

    runs: dict[Any, tuple[datetime, dict[str, Any], Run]] = {}
    for version in (
        PartVersion.objects.filter(session_id=session_id, run__kind=RERUN_KIND)
        .select_related("run", "asked_by")
        .order_by("created_at", "pk")
    ):
        run = version.run
        assert run is not None
        if run.pk not in runs:
            part = str(run.input.get("part") or version.part)
            label = part_label(part)
            runs[run.pk] = (
                version.created_at,
                {
                    "event": "rerun",
                    "by": _username(version.asked_by),
                    "part": part,
                    "part_label": label if part in AGENT_BY_KEY else label.lower(),
                    "provider": version.provider,
                    "note": version.note,
                    "status": version.status,
                    "cost": version.cost,
                },
                run,
            )
        else:
            runs[run.pk][1]["cost"] += version.cost
    return list(runs.values())


def log_item(item: dict[str, Any]) -> dict[str, Any]:
    """A chair event's data as a line of the log shows it."""
    agent = AGENT_BY_KEY.get(str(item.get("agent") or ""))
    return {**item, "agent_name": agent.name if agent else ""}


def question_block(question: ChairQuestion) -> dict[str, Any]:
    agent = AGENT_BY_KEY.get(question.agent)
    return {
        "request_id": str(question.request_id),
        "agent": question.agent,
        "agent_name": agent.name if agent else question.agent,
        "question": question.question,
        "options": list(question.options),
        "default": question.default,
        "expires_at": question.expires_at,
        "open": question.is_open,
        "answer": question.answer,
    }


# ---- the chair's actions (an editor's; the caller has checked the role) ----------------------


def _live_session(session: Session) -> Session:
    if not session.is_active or session.run_id is None:
        raise ChairClosed("The session has ended; the chair is closed.")
    return session


def chair_note_add(user: Any, session: Session, text: str) -> ChairEntry:
    text = " ".join(str(text or "").split())
    if not 1 <= len(text) <= NOTE_MAX:
        raise ValidationError({"text": f"A note is 1 to {NOTE_MAX} characters."})
    _live_session(session)
    entry = ChairEntry.objects.create(session=session, kind=ChairKind.NOTE, by=user, text=text)
    _flush_after(session)
    return entry


def chair_mark_add(user: Any, session: Session, kind: str, agent: str, point: str) -> ChairEntry:
    """Pin (``pin``) or veto (``veto``) a point of an agent's analysis."""
    if kind not in (ChairKind.PIN, ChairKind.VETO):
        raise ValidationError({"kind": "Pin or veto."})
    if agent not in AGENT_BY_KEY:
        raise ValidationError({"agent": "No such agent."})
    point = " ".join(str(point or "").split())
    if not 1 <= len(point) <= POINT_MAX:
        raise ValidationError({"point": f"A point is 1 to {POINT_MAX} characters."})
    _live_session(session)
    assert session.run is not None
    analysis = session.run.parts.filter(key=agent).values_list("text", flat=True).first() or ""
    if point not in " ".join(analysis.split()):
        raise ValidationError({"point": "That point is not in the agent's analysis."})
    entry = ChairEntry.objects.create(session=session, kind=kind, by=user, agent=agent, text=point)
    _flush_after(session)
    return entry


def _flush_after(session: Session) -> None:
    run_id, session_id = session.run_id, session.pk
    transaction.on_commit(lambda: _flush_now(run_id, session_id))


def _flush_now(run_id: Any, session_id: int) -> None:
    items = chair_flush(run_id, session_id)
    if items:
        async_to_sync(publish_many)(items)


def chair_answer(
    user: Any, session: Session, request_id: str, *, choice: str = "", text: str = ""
) -> ChairQuestion:
    """Answer an open question with one of its options or a short text; the session resumes
    at once when none is left open."""
    try:
        rid = uuid.UUID(str(request_id))
    except ValueError:
        raise ValidationError({"request_id": "No such question."}) from None
    question = ChairQuestion.objects.filter(session=session, request_id=rid).first()
    if question is None:
        raise ValidationError({"request_id": "No such question."})
    choice = " ".join(str(choice or "").split())
    text = " ".join(str(text or "").split())
    if bool(choice) == bool(text):
        raise ValidationError({"choice": "Give a choice or a text, one of the two."})
    if choice and choice not in question.options:
        raise ValidationError({"choice": "Choose one of the question's options."})
    if text and len(text) > ANSWER_MAX:
        raise ValidationError({"text": f"An answer is at most {ANSWER_MAX} characters."})
    _live_session(session)
    now = timezone.now()
    answered = ChairQuestion.objects.filter(
        pk=question.pk, answered_at__isnull=True, timed_out=False
    ).update(answer=choice or text, answered_by=user, answered_at=now)
    if not answered:
        raise ChairClosed("This question has already been answered or has timed out.")
    question.refresh_from_db()
    run_id, session_id = session.run_id, session.pk
    still_open = ChairQuestion.objects.filter(
        session=session, answered_at__isnull=True, timed_out=False
    ).exists()

    def after() -> None:
        _flush_now(run_id, session_id)
        if not still_open and run_id is not None:
            run_wake(run_id)

    transaction.on_commit(after)
    return question


def questions_open(session_id: int) -> list[ChairQuestion]:
    return list(
        ChairQuestion.objects.filter(
            session_id=session_id, answered_at__isnull=True, timed_out=False
        )
    )


def questions_create(
    session_id: int, asked: Sequence[tuple[str, Asked]], expires_at: datetime
) -> list[ChairQuestion]:
    return [
        ChairQuestion.objects.create(
            session_id=session_id,
            request_id=uuid.uuid4(),
            agent=agent,
            question=item.question,
            options=item.options,
            default=item.default,
            expires_at=expires_at,
        )
        for agent, item in asked
    ]


def questions_time_out(session_id: int) -> list[tuple[str, dict[str, Any], str]]:
    """The open questions past their expiry take their default (sync); their events."""
    now = timezone.now()
    events = []
    for question in ChairQuestion.objects.filter(
        session_id=session_id, answered_at__isnull=True, timed_out=False, expires_at__lte=now
    ):
        if ChairQuestion.objects.filter(pk=question.pk, answered_at__isnull=True).update(
            timed_out=True, answer=question.default, response_emitted=True
        ):
            question.refresh_from_db()
            events.append(response_event(question))
    return events


def expiry() -> datetime:
    return timezone.now() + timedelta(minutes=answer_minutes())
