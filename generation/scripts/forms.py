"""Forms of the script pages. Key points arrive as repeated ``kp_text`` / ``kp_priority`` fields
(one pair per row of the key point list, in the order shown)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from aura_site.problems import Problem
from aura_site.projects.models import Project
from generation.scripts.constants import (
    DEFAULT_DELIVERY,
    DEFAULT_PLATFORM,
    DELIVERY_STYLES,
    KEY_POINT_MAX_CHARS,
    MAX_DURATION_SECONDS,
    MAX_KEY_POINTS,
    MIN_DURATION_SECONDS,
    PLATFORMS,
    PRIORITIES,
    PRIORITY_LABELS,
    TOPIC_MAX_CHARS,
    TOPIC_MIN_CHARS,
    Priority,
)
from generation.scripts.models import Persona, ScriptTemplate
from generation.scripts.services import script_input_clean

AUTO = "auto"


def key_points_from(data: Any) -> list[dict[str, str]]:
    """The key point rows of a submitted form, in order, blank rows left out."""
    if not hasattr(data, "getlist"):
        return []
    texts = data.getlist("kp_text")
    priorities = data.getlist("kp_priority")
    rows = []
    for index, text in enumerate(texts):
        priority = priorities[index] if index < len(priorities) else Priority.MUST
        rows.append({"text": " ".join(str(text).split()), "priority": str(priority)})
    return [row for row in rows if row["text"]]


class ScriptForm(forms.Form):
    topic = forms.CharField(
        min_length=TOPIC_MIN_CHARS,
        max_length=TOPIC_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What is the video about?"}),
        error_messages={
            "required": "Give the video a topic.",
            "min_length": f"Give a topic of at least {TOPIC_MIN_CHARS} characters.",
            "max_length": f"Keep the topic under {TOPIC_MAX_CHARS} characters.",
        },
    )
    audience = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. first-time home cooks"}),
    )
    tone = forms.CharField(
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"list": "tone-suggestions", "placeholder": "e.g. friendly"}),
    )
    platform = forms.ChoiceField(
        choices=[(p.slug, p.label) for p in PLATFORMS], initial=DEFAULT_PLATFORM
    )
    duration_seconds = forms.IntegerField(
        label="Duration (seconds)",
        min_value=MIN_DURATION_SECONDS,
        max_value=MAX_DURATION_SECONDS,
        initial=60,
        error_messages={
            "required": "Give a target duration in seconds.",
            "min_value": f"The duration must be at least {MIN_DURATION_SECONDS} seconds.",
            "max_value": f"The duration must be at most {MAX_DURATION_SECONDS} seconds.",
            "invalid": "The duration is a whole number of seconds.",
        },
    )
    delivery = forms.ChoiceField(
        label="Delivery style",
        choices=[(s.slug, f"{s.label} ({s.words_per_minute} wpm)") for s in DELIVERY_STYLES],
        initial=DEFAULT_DELIVERY,
    )
    template = forms.ModelChoiceField(
        queryset=ScriptTemplate.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="No template (hook, body, call to action)",
    )
    persona = forms.ModelChoiceField(
        queryset=Persona.objects.none(), required=False, empty_label="No persona"
    )
    provider = forms.ChoiceField(choices=[(AUTO, "Auto (recommended)")], initial=AUTO)
    model = forms.CharField(
        required=False,
        max_length=120,
        widget=forms.TextInput(attrs={"list": "model-suggestions", "placeholder": "default"}),
    )
    max_cost_usd = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(10_000),
        max_digits=12,
        decimal_places=6,
        label="Cost ceiling for fallbacks (USD)",
        help_text="A fallback that may cost more is skipped rather than overspend.",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "none", "min": "0"}),
        error_messages={
            "min_value": "The cost ceiling cannot be negative.",
            "invalid": "Give the cost ceiling as an amount in USD, e.g. 0.05.",
        },
    )
    streaming = forms.BooleanField(
        required=False,
        initial=True,
        label="Stream the script live",
        help_text="Off: the page waits and shows the whole script at once.",
    )
    start_anyway = forms.BooleanField(required=False, label="Start anyway")

    summary_skip_codes = ("key_points",)

    def __init__(
        self, *args: Any, project: Project, providers: list[Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        persona_field = self.fields["persona"]
        assert isinstance(persona_field, forms.ModelChoiceField)
        persona_field.queryset = Persona.objects.filter(project=project)
        provider_field = self.fields["provider"]
        assert isinstance(provider_field, forms.ChoiceField)
        provider_field.choices = [(AUTO, "Auto (recommended)")] + [
            (info.name, info.label) for info in providers or []
        ]
        self.unset_providers = {
            info.name: info.label for info in providers or [] if not info.configured
        }
        self.key_points = key_points_from(self.data) if self.is_bound else []
        self.key_point_errors: list[str] = []
        self.key_point_invalid: set[int] = set()
        self._key_point_problems: list[tuple[int, str]] = []
        self.cleaned_input: dict[str, Any] = {}

    def clean_provider(self) -> str:
        provider = str(self.cleaned_data.get("provider") or AUTO)
        label = self.unset_providers.get(provider)
        if label is not None:
            raise ValidationError(
                f"{label} is not set up, so it cannot be chosen: ask staff to add its key, or "
                "choose Auto or another provider.",
                code="provider_not_configured",
            )
        return provider

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if len(self.key_points) > MAX_KEY_POINTS:
            self.key_point_problem(MAX_KEY_POINTS + 1, f"At most {MAX_KEY_POINTS} key points.")
        for index, point in enumerate(self.key_points, start=1):
            if len(point["text"]) > KEY_POINT_MAX_CHARS:
                self.key_point_problem(
                    index, f"Key point {index} is over {KEY_POINT_MAX_CHARS} characters."
                )
            if point["priority"] not in PRIORITIES:
                self.key_point_problem(index, f"Key point {index}: choose must, should or nice.")
        if self.key_point_errors:
            raise ValidationError("Fix the key points below.", code="key_points")
        if self.errors:
            return cleaned
        template = cleaned.get("template")
        persona = cleaned.get("persona")
        try:
            self.cleaned_input = script_input_clean(
                self.project,
                {
                    "topic": cleaned.get("topic", ""),
                    "audience": cleaned.get("audience", ""),
                    "tone": cleaned.get("tone", ""),
                    "platform": cleaned.get("platform"),
                    "delivery": cleaned.get("delivery"),
                    "duration_seconds": cleaned.get("duration_seconds"),
                    "template": template.slug if template else "",
                    "persona": persona.pk if persona else None,
                    "key_points": self.key_points,
                },
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned

    def key_point_problem(self, index: int, message: str) -> None:
        """A problem of the ``index``-th key point (1-based): listed under the key points and in
        the error summary, and its row marked invalid."""
        self.key_point_errors.append(message)
        self.key_point_invalid.add(index)
        self._key_point_problems.append((index, message))

    def summary_problems(self) -> list[Problem]:
        rows = len(self.key_point_rows())
        return [
            Problem(message, "Key points", f"#kp-text-{min(index, rows)}")
            for index, message in self._key_point_problems
        ]

    def key_point_rows(self) -> list[dict[str, str]]:
        """The rows to show: what was submitted, or one blank row."""
        return self.key_points or [{"text": "", "priority": Priority.MUST}]


PRIORITY_CHOICES = [(p, PRIORITY_LABELS[p]) for p in PRIORITIES]


class ProviderChoiceForm(forms.Form):
    """Regenerate or continue: which provider and model (only providers that are set up can
    be chosen)."""

    provider = forms.ChoiceField(choices=[(AUTO, "Auto (recommended)")], initial=AUTO)
    model = forms.CharField(required=False, max_length=120)

    def __init__(self, *args: Any, providers: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["provider"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(AUTO, "Auto (recommended)")] + [
            (info.name, info.label) for info in providers or [] if info.configured
        ]


class EditForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "class": "script-editor"}),
        strip=False,
        error_messages={"required": "The script cannot be empty."},
    )
    note = forms.CharField(required=False, max_length=300, label="What changed")
    base = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def clean_text(self) -> str:
        text = str(self.cleaned_data["text"]).replace("\r\n", "\n")
        if not text.strip():
            raise ValidationError("The script cannot be empty.")
        return text


class PersonaForm(forms.Form):
    name = forms.CharField(max_length=120, error_messages={"required": "Give the persona a name."})
    voice = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. warm, curious, plain words"}),
    )
    audience = forms.CharField(required=False, max_length=200)
    do = forms.CharField(
        required=False,
        label="Do (one per line)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    dont = forms.CharField(
        required=False,
        label="Don't (one per line)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_do(self) -> str:
        return _check_lines(self.cleaned_data.get("do", ""))

    def clean_dont(self) -> str:
        return _check_lines(self.cleaned_data.get("dont", ""))


def _check_lines(value: str) -> str:
    lines = [line for line in value.splitlines() if line.strip()]
    if len(lines) > 20:
        raise ValidationError("At most 20 lines.")
    if any(len(line) > 200 for line in lines):
        raise ValidationError("Keep each line under 200 characters.")
    return value


class CompareForm(forms.Form):
    a = forms.IntegerField(min_value=1, label="From version")
    b = forms.IntegerField(min_value=1, label="To version")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("a") is not None and cleaned.get("a") == cleaned.get("b"):
            raise ValidationError("Choose two different versions.")
        return cleaned
