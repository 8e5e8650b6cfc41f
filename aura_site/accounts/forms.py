from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.cache import cache

User = get_user_model()


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        help_text="Teammates can invite you by this address.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email


class AccountForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "email")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip()
        taken = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("Another account already uses this email address.")
        return email


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. “CI pipeline” or “laptop scripts”.",
        widget=forms.TextInput(attrs={"placeholder": "CI pipeline", "autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login form, refusing further attempts for a while after repeated failures.

    Failures are counted per username and per client address in the cache (shared between
    processes when ``REDIS_URL`` is set), so guessing one account's password and spraying one
    password across accounts both hit the limit.
    """

    max_failures_per_user = 5
    max_failures_per_address = 20
    window_seconds = 15 * 60

    def _keys(self) -> list[str]:
        username = str(self.data.get("username", "")).strip().lower()
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        digest = hashlib.sha256(username.encode()).hexdigest()[:32]
        return [f"login-failures:user:{digest}", f"login-failures:addr:{address}"]

    def clean(self) -> dict[str, Any]:
        keys = self._keys()
        limits = (self.max_failures_per_user, self.max_failures_per_address)
        if any(int(cache.get(key, 0)) >= limit for key, limit in zip(keys, limits, strict=True)):
            raise forms.ValidationError(
                "Too many failed attempts. Wait 15 minutes, then try again.", code="throttled"
            )
        try:
            return super().clean()
        except forms.ValidationError:
            for key in keys:
                cache.add(key, 0, self.window_seconds)
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, self.window_seconds)
            raise
