from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from aura_site.accounts import throttle

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

    Failures are counted per username and per client address (``aura_site.accounts.throttle``),
    so guessing one account's password and spraying one password across accounts both hit the
    limit, also when the guesses come all at once. ``throttled`` tells the view to answer 429.
    """

    throttled = False

    def _counters(self) -> list[throttle.Counter]:
        username = str(self.data.get("username", ""))
        return throttle.login_counters(username, throttle.client_address(self.request))

    def clean(self) -> dict[str, Any]:
        counters = self._counters()
        try:
            throttle.attempt_begin(counters)
        except throttle.Throttled:
            self.throttled = True
            raise forms.ValidationError(throttle.THROTTLED_MESSAGE, code="throttled") from None
        cleaned = super().clean()
        throttle.attempt_succeeded(counters)
        return cleaned
