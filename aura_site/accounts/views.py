from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from aura_site.accounts import throttle
from aura_site.accounts.forms import (
    AccountForm,
    ApiTokenForm,
    SignupForm,
    ThrottledAuthenticationForm,
)
from aura_site.accounts.models import ApiToken
from aura_site.accounts.tokens import token_create, token_revoke, tokens_for_user
from aura_site.http import HtmxHttpRequest, redirect_to


class LoginView(auth_views.LoginView):
    """Django's login, answering 429 with ``Retry-After`` (and the form saying why) while the
    account or the address is throttled."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
            response["Retry-After"] = str(throttle.WINDOW_SECONDS)
        return response


@login_not_required
@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HtmxHttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect_to(request, "projects:dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Aura Studio, {user.get_username()}.")
        return redirect_to(request, "projects:dashboard")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


def _account_context(request: HtmxHttpRequest, **extra: object) -> dict[str, object]:
    context: dict[str, object] = {
        "account_form": AccountForm(instance=request.user),
        "token_form": ApiTokenForm(),
        "tokens": tokens_for_user(request.user),
    }
    context.update(extra)
    return context


@never_cache
@require_http_methods(["GET", "POST"])
def account(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = AccountForm(request.POST, instance=request.user)
        if form.is_valid():
            form.save()
            messages.success(request, "Your details are saved.")
            return redirect_to(request, "accounts:account")
        return render(
            request,
            "accounts/account.html",
            _account_context(request, account_form=form),
            status=400,
        )
    return render(request, "accounts/account.html", _account_context(request))


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def password_change(request: HtmxHttpRequest) -> HttpResponse:
    form = PasswordChangeForm(cast(User, request.user), request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        messages.success(request, "Your password is changed.")
        return redirect_to(request, "accounts:account")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/password_change.html", {"form": form}, status=status)


@never_cache
@require_POST
def token_new(request: HtmxHttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return render(
            request, "accounts/account.html", _account_context(request, token_form=form), status=400
        )
    token, raw = token_create(user=request.user, name=form.cleaned_data["name"])
    return render(request, "accounts/token_created.html", {"token": token, "raw_token": raw})


@require_POST
def token_revoke_view(request: HtmxHttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token_revoke(token=token)
    messages.success(request, f"The token “{token.name}” is revoked.")
    return redirect_to(request, "accounts:account")
