"""The form that starts a video job. Its checks are the service's (``job_input_clean``), so the
page and the API refuse the same things with the same words; the form only shapes the fields
(a start image arrives as an upload and is handed on as a data URI)."""

from __future__ import annotations

import base64
from typing import Any

from django import forms

from aura_site.api_types import ID_MAX
from videos.catalogue import VideoModel
from videos.models import AspectRatio
from videos.services import (
    IMAGE_MAX_BYTES,
    NEGATIVE_MAX,
    PROMPT_MAX,
    PROMPT_MIN,
    SEED_MAX,
    SHOT_NUMBER_MAX,
)


class VideoJobForm(forms.Form):
    prompt = forms.CharField(
        label="Prompt",
        min_length=PROMPT_MIN,
        max_length=PROMPT_MAX,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "maxlength": PROMPT_MAX,
                "placeholder": "A slow dolly shot through a rain-soaked neon street at night, "
                "reflections on the asphalt",
            }
        ),
    )
    model = forms.ChoiceField(label="Model", widget=forms.RadioSelect)
    duration_seconds = forms.DecimalField(
        label="Duration (seconds)",
        min_value=1,
        max_digits=5,
        decimal_places=1,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.5", "inputmode": "decimal"}),
        help_text="Empty: the model's usual length. Models with set lengths take the nearest.",
    )
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio",
        choices=AspectRatio.choices,
        initial=AspectRatio.WIDE,
        required=False,
        widget=forms.RadioSelect,
    )
    negative_prompt = forms.CharField(
        label="Negative prompt",
        required=False,
        max_length=NEGATIVE_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "blurry, text, watermark"}),
    )
    seed = forms.IntegerField(label="Seed", required=False, min_value=0, max_value=SEED_MAX)
    image = forms.ImageField(
        label="Start image",
        required=False,
        help_text="PNG or JPEG under 5 MB, for models that animate an image.",
    )
    shot_roundtable = forms.IntegerField(
        required=False, min_value=1, max_value=ID_MAX, widget=forms.HiddenInput
    )
    shot_number = forms.IntegerField(
        required=False, min_value=1, max_value=SHOT_NUMBER_MAX, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, models: list[VideoModel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.models = models
        model_field = self.fields["model"]
        assert isinstance(model_field, forms.ChoiceField)
        model_field.choices = [(model.name, model.label) for model in models]
        first = next((m.name for m in models if m.configured), models[0].name if models else "")
        model_field.initial = first

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "shot_roundtable" in self.errors or "shot_number" in self.errors:
            self.add_error(
                None,
                "The roundtable shot this clip is made from is not valid; "
                "open it again from the roundtable's shot list.",
            )
        return cleaned

    def clean_image(self) -> Any:
        image = self.cleaned_data.get("image")
        if image and image.size > IMAGE_MAX_BYTES:
            raise forms.ValidationError("The start image must be under 5 MB.")
        return image

    def request_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        body: dict[str, Any] = {
            "prompt": data.get("prompt") or "",
            "model": data.get("model") or "",
            "duration_seconds": data.get("duration_seconds"),
            "aspect_ratio": data.get("aspect_ratio") or AspectRatio.WIDE,
            "negative_prompt": data.get("negative_prompt") or "",
            "seed": data.get("seed"),
        }
        image = data.get("image")
        if image:
            image.seek(0)
            raw = image.read()
            media_type = getattr(image, "content_type", "") or "image/png"
            body["image"] = f"data:{media_type};base64,{base64.b64encode(raw).decode('ascii')}"
        if data.get("shot_roundtable") and data.get("shot_number"):
            body["shot"] = {"roundtable": data["shot_roundtable"], "number": data["shot_number"]}
        return body
