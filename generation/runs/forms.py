from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings


def provider_choices() -> list[tuple[str, str]]:
    choices = [("auto", "Auto (best available)")]
    for alias in settings.LLM_PROVIDERS:
        choices.append((alias, alias.replace("rulebased", "RuleBased (offline)").capitalize()))
    return choices


class ScriptStartForm(forms.Form):
    topic = forms.CharField(
        min_length=3,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "What is the video about?"}),
    )
    provider = forms.ChoiceField(choices=provider_choices, initial="auto")

    def request_body(self, project_id: int) -> dict[str, Any]:
        return {
            "project": project_id,
            "topic": self.cleaned_data["topic"],
            "provider": self.cleaned_data["provider"],
        }
