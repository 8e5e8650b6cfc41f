from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.validators import MaxLengthValidator

from aura_site.projects.models import Character, Location, Project, Role, Series

TEXT_MAX = 5000
"""The longest free text (a description, a look, a voice) a project or world item keeps, as the
API's ``ProjectIn.description``."""


def _bounded(form: forms.ModelForm, *names: str) -> None:
    for name in names:
        field = form.fields[name]
        assert isinstance(field, forms.CharField)
        field.max_length = TEXT_MAX
        field.validators.append(MaxLengthValidator(TEXT_MAX))
        field.widget.attrs["maxlength"] = str(TEXT_MAX)


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ("name", "description")
        widgets = {
            "name": forms.TextInput(attrs={"placeholder": "Spring launch film"}),
            "description": forms.Textarea(
                attrs={"rows": 3, "placeholder": "What this project is for"}
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _bounded(self, "description")

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        return name


class ProjectDeleteForm(forms.Form):
    confirm = forms.CharField(
        label="Type the project's name to confirm",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.project = project

    def clean_confirm(self) -> str:
        value = str(self.cleaned_data["confirm"]).strip()
        if value != self.project.name:
            raise forms.ValidationError(f"Type “{self.project.name}” exactly to delete it.")
        return value


class MemberAddForm(forms.Form):
    user = forms.CharField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(
            attrs={"placeholder": "ada or ada@example.com", "autocomplete": "off"}
        ),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class _WorldItemForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _bounded(self, *(name for name in ("description", "look", "voice") if name in self.fields))

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give it a name.")
        return name


class SeriesForm(_WorldItemForm):
    class Meta:
        model = Series
        fields = ("name", "description")
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}


class CharacterForm(_WorldItemForm):
    class Meta:
        model = Character
        fields = ("name", "description", "look", "voice")
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "look": forms.Textarea(attrs={"rows": 3}),
            "voice": forms.Textarea(attrs={"rows": 3}),
        }


class LocationForm(_WorldItemForm):
    class Meta:
        model = Location
        fields = ("name", "description", "mood")
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}


@dataclass(frozen=True)
class WorldKind:
    slug: str
    form: type[forms.ModelForm]
    singular: str
    plural: str
    blurb: str


WORLD_KINDS = {
    "series": WorldKind(
        "series", SeriesForm, "series", "Series", "Recurring formats your videos belong to."
    ),
    "characters": WorldKind(
        "characters",
        CharacterForm,
        "character",
        "Characters",
        "Who appears on screen: how they look and how they sound.",
    ),
    "locations": WorldKind(
        "locations", LocationForm, "location", "Locations", "Where scenes are set, and their mood."
    ),
}
