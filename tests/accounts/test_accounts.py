"""Sign up, log in and out, change password, the account page and personal API tokens."""

from __future__ import annotations

import hashlib
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory

from aura_site.accounts.auth import user_from_request
from aura_site.accounts.models import ApiToken
from aura_site.accounts.tokens import token_authenticate, token_create, token_revoke

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-pass-phrase-42"


def test_signup_logs_in_and_lands_on_the_dashboard(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "username": "ada",
            "email": "ada@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert page.context["user"].get_username() == "ada"


def test_signup_shows_each_error_next_to_its_field(client: Client, make_user: Any) -> None:
    make_user("ada")
    response = client.post(
        "/accounts/signup/",
        {"username": "ada", "email": "not-an-email", "password1": "short", "password2": "other"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    for field in ("id_username", "id_email", "id_password2"):
        assert f'id="{field}_error"' in html, field
        assert 'aria-invalid="true"' in html[html.index(f'id="row-{field}"') :][:1200]
    assert "A user with that username already exists." in html
    assert get_user_model().objects.filter(username="ada").count() == 1


def test_signup_refuses_an_email_already_in_use(client: Client, make_user: Any) -> None:
    make_user("ada")
    response = client.post(
        "/accounts/signup/",
        {
            "username": "ada2",
            "email": "ADA@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert 'id="id_email_error"' in response.content.decode()


def test_login_with_bad_password_says_so_in_the_form(client: Client, make_user: Any) -> None:
    make_user("ada", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
    assert response.status_code == 200
    assert 'class="errorlist nonfield"' in response.content.decode()
    ok = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert ok.status_code == 302 and ok["Location"] == "/"


def test_login_follows_next(client: Client, make_user: Any) -> None:
    make_user("ada", password=PASSWORD)
    response = client.post(
        "/accounts/login/?next=/accounts/",
        {"username": "ada", "password": PASSWORD, "next": "/accounts/"},
    )
    assert response["Location"] == "/accounts/"


def test_logout_is_a_post(client: Client, make_user: Any) -> None:
    client.force_login(make_user("ada"))
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("url", ["/", "/accounts/", "/accounts/password/", "/projects/new/"])
def test_pages_need_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/signup/", "/health"])
def test_public_pages(client: Client, url: str) -> None:
    assert client.get(url).status_code == 200


def test_change_password(client: Client, make_user: Any) -> None:
    user = make_user("ada", password=PASSWORD)
    client.force_login(user)
    bad = client.post(
        "/accounts/password/",
        {"old_password": "nope", "new_password1": "x", "new_password2": "y"},
    )
    assert bad.status_code == 400
    html = bad.content.decode()
    assert 'id="id_old_password_error"' in html and 'id="id_new_password2_error"' in html
    new = "another-long-phrase-77"
    ok = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert ok.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)
    assert client.get("/accounts/").status_code == 200, "the session survives the change"


def test_account_details_with_errors_in_place(client: Client, make_user: Any) -> None:
    make_user("ben")
    user = make_user("ada")
    client.force_login(user)
    bad = client.post(
        "/accounts/", {"first_name": "Ada", "last_name": "", "email": "ben@example.com"}
    )
    assert bad.status_code == 400
    assert 'id="id_email_error"' in bad.content.decode()
    ok = client.post(
        "/accounts/", {"first_name": "Ada", "last_name": "L", "email": "ada@lovelace.dev"}
    )
    assert ok.status_code == 302
    user.refresh_from_db()
    assert (user.first_name, user.email) == ("Ada", "ada@lovelace.dev")


# Personal API tokens.


def test_token_is_shown_once_and_stored_hashed(client: Client, make_user: Any) -> None:
    client.force_login(make_user("ada"))
    response = client.post("/accounts/tokens/", {"name": "CI pipeline"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = response.context["raw_token"]
    assert raw.startswith("aura_") and raw in response.content.decode()
    token = ApiToken.objects.get()
    assert token.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(token.__dict__)
    account = client.get("/accounts/").content.decode()
    assert "CI pipeline" in account and token.display_prefix in account and raw not in account


def test_token_pages_link_to_the_api_reference(client: Client, make_user: Any) -> None:
    client.force_login(make_user("ada"))
    created = client.post("/accounts/tokens/", {"name": "Scripts"}).content.decode()
    account = client.get("/accounts/").content.decode()
    for page in (created, account):
        assert '<a href="/api/v1/docs" data-testid="api-docs">' in page
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.content.decode()


def test_token_name_errors_in_place(client: Client, make_user: Any) -> None:
    client.force_login(make_user("ada"))
    response = client.post("/accounts/tokens/", {"name": "   "})
    assert response.status_code == 400
    assert 'id="id_name_error"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_own_token_only(client: Client, make_user: Any) -> None:
    ada, ben = make_user("ada"), make_user("ben")
    bens, _ = token_create(user=ben, name="ben's")
    client.force_login(ada)
    assert client.post(f"/accounts/tokens/{bens.pk}/revoke/").status_code == 404
    token, raw = token_create(user=ada, name="mine")
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token_authenticate(raw) is None
    bens.refresh_from_db()
    assert bens.revoked_at is None


def test_htmx_requests_are_sent_on_with_hx_redirect(client: Client, make_user: Any) -> None:
    ada = make_user("ada")
    client.force_login(ada)
    token, _ = token_create(user=ada, name="mine")
    revoked = client.post(f"/accounts/tokens/{token.pk}/revoke/", headers={"HX-Request": "true"})
    assert revoked.status_code == 200 and "Location" not in revoked
    assert revoked["HX-Redirect"] == "/accounts/"
    saved = client.post("/accounts/", {"email": "ada@example.org"}, headers={"HX-Request": "true"})
    assert saved["HX-Redirect"] == "/accounts/"


def test_token_authentication(make_user: Any) -> None:
    user = make_user("ada")
    token, raw = token_create(user=user, name="t")
    assert token_authenticate(raw) == user
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert token_authenticate("aura_deadbeef_" + "x" * 43) is None
    assert token_authenticate("garbage") is None
    assert token_authenticate("") is None
    user.is_active = False
    user.save()
    assert token_authenticate(raw) is None
    user.is_active = True
    user.save()
    token_revoke(token=token)
    assert token_authenticate(raw) is None


def test_user_from_request(make_user: Any, rf: RequestFactory) -> None:
    from django.contrib.auth.models import AnonymousUser

    ada, ben = make_user("ada"), make_user("ben")
    _, raw = token_create(user=ben, name="t")
    request = rf.get("/", headers={"Authorization": f"Bearer {raw}"})
    request.user = ada
    assert user_from_request(request) == ben, "a bearer token names the caller"
    request = rf.get("/", headers={"Authorization": "Bearer wrong"})
    request.user = ada
    assert user_from_request(request) is None, "a bad token is refused even with a session"
    request = rf.get("/", headers={"Authorization": "Basic abc"})
    request.user = ada
    assert user_from_request(request) is None
    request = rf.get("/")
    request.user = ada
    assert user_from_request(request) == ada
    request.user = AnonymousUser()
    assert user_from_request(request) is None


@pytest.mark.django_db(transaction=True)
async def test_auser_from_request(make_user: Any, rf: RequestFactory) -> None:
    from asgiref.sync import sync_to_async

    from aura_site.accounts.auth import auser_from_request

    ada = await sync_to_async(make_user)("ada")
    _, raw = await sync_to_async(token_create)(user=ada, name="t")
    request = rf.get("/", headers={"Authorization": f"Bearer {raw}"})
    assert await auser_from_request(request) == ada


def test_createapitoken_prints_a_working_token(make_user: Any) -> None:
    user = make_user("ada")
    out, err = StringIO(), StringIO()
    call_command("createapitoken", "ada", "--name", "deploy", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert token_authenticate(raw) == user
    assert ApiToken.objects.get().name == "deploy"
    assert "deploy" in err.getvalue() and raw not in err.getvalue()


def test_createapitoken_for_an_unknown_user_fails_clearly(db: Any) -> None:
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("createapitoken", "ghost", stdout=StringIO(), stderr=StringIO())


def test_login_is_throttled_after_repeated_failures(make_user: Any) -> None:
    from django.core.cache import cache

    from aura_site.accounts import throttle

    counters = throttle.login_counters("throttled", "127.0.0.1")
    make_user("throttled", password=PASSWORD)
    client = Client()
    for _ in range(5):
        client.post("/accounts/login/", {"username": "throttled", "password": "guess"})
    refused = client.post("/accounts/login/", {"username": "throttled", "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == throttle.WINDOW_SECONDS
    assert "Too many failed attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    cache.delete_many([counter.key for counter in counters])
    ok = client.post("/accounts/login/", {"username": "throttled", "password": PASSWORD})
    assert ok.status_code == 302


def test_a_right_password_does_not_count_as_a_failure(make_user: Any) -> None:
    make_user("regular", password=PASSWORD)
    for _ in range(10):
        client = Client()
        ok = client.post("/accounts/login/", {"username": "regular", "password": PASSWORD})
        assert ok.status_code == 302
