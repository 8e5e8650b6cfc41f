"""The form that starts a session. Its checks are the service's (``session_input_clean``), so the
page and the API refuse the same things with the same words."""

from __future__ import annotations

from typing import Any

from django import forms

from aura_site.projects.models import Project
from roundtable.agents import AGENTS
from roundtable.models import DebateMode
from roundtable.norms import NORMS
from roundtable.services import BRIEF_MAX, BRIEF_MIN, DURATION_MAX, DURATION_MIN


class SessionForm(forms.Form):
    brief = forms.CharField(
        label="Brief",
        min_length=BRIEF_MIN,
        max_length=BRIEF_MAX,
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "placeholder": "What is the video, who is it for, what must it make people "
                "feel or do?",
                "maxlength": BRIEF_MAX,
            }
        ),
        help_text=f"{BRIEF_MIN} to {BRIEF_MAX:,} characters.",
    )
    platform = forms.ChoiceField(
        label="Platform", choices=[(slug, norms.label) for slug, norms in NORMS.items()]
    )
    duration_seconds = forms.IntegerField(
        label="Target duration (seconds)",
        min_value=DURATION_MIN,
        max_value=DURATION_MAX,
        required=False,
        help_text="Empty: the platform's usual length.",
    )
    series = forms.ChoiceField(label="Series", required=False)
    characters = forms.MultipleChoiceField(
        label="Characters", required=False, widget=forms.CheckboxSelectMultiple
    )
    locations = forms.MultipleChoiceField(
        label="Locations", required=False, widget=forms.CheckboxSelectMultiple
    )
    provider = forms.ChoiceField(label="Provider for every agent", initial="auto")
    debate = forms.ChoiceField(
        label="Debate",
        choices=DebateMode.choices,
        initial=DebateMode.AUTO,
        widget=forms.RadioSelect,
        help_text="Auto: only when two agents disagree strongly.",
    )

    def __init__(
        self, *args: Any, project: Project, providers: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        provider_field = self.fields["provider"]
        assert isinstance(provider_field, forms.ChoiceField)
        provider_field.choices = providers
        series = self.fields["series"]
        assert isinstance(series, forms.ChoiceField)
        series.choices = [("", "No series")] + [
            (str(item.pk), item.name) for item in project.series.all()
        ]
        for name, items in (
            ("characters", project.characters.all()),
            ("locations", project.locations.all()),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.MultipleChoiceField)
            field.choices = [(str(item.pk), item.name) for item in items]
        agent_choices = [("", "Same as above"), *providers]
        for agent in AGENTS:
            self.fields[f"agent_{agent.key}"] = forms.ChoiceField(
                label=agent.name, choices=agent_choices, required=False
            )

    @property
    def agent_fields(self) -> list[forms.BoundField]:
        return [self[f"agent_{agent.key}"] for agent in AGENTS]

    def request_body(self) -> dict[str, Any]:
        """The session request (the API's body) from the form's cleaned data."""
        data = self.cleaned_data
        agents = {
            agent.key: {"provider": data[f"agent_{agent.key}"]}
            for agent in AGENTS
            if data.get(f"agent_{agent.key}")
        }
        return {
            "project": self.project.pk,
            "brief": data["brief"],
            "platform": data["platform"],
            "duration_seconds": data.get("duration_seconds"),
            "series": data.get("series") or None,
            "characters": [int(pk) for pk in data.get("characters") or []],
            "locations": [int(pk) for pk in data.get("locations") or []],
            "provider": data.get("provider") or "auto",
            "agents": agents,
            "debate": data.get("debate") or DebateMode.AUTO,
        }
