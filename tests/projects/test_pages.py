"""Pages: content, forms with errors in place, security headers and the admin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from aura_site.accounts.tokens import token_create
from aura_site.projects.models import (
    Activity,
    Character,
    Location,
    Membership,
    Project,
    Role,
    Series,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(make_user: Any) -> Any:
    return make_user("ada")


@pytest.fixture
def project(ada: Any, make_project: Any) -> Project:
    return make_project(owner=ada, name="Harbour film")


def test_csp_and_security_headers(
    client_for: Callable[[Any], Client], ada: Any, project: Project
) -> None:
    for url in ("/", f"/projects/{project.pk}/", "/accounts/", "/accounts/login/"):
        response = client_for(ada if url != "/accounts/login/" else None).get(url)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp, url
        assert response["X-Frame-Options"] == "DENY"
        nonce = csp.split("'nonce-")[1].split("'")[0]
        html = response.content.decode()
        assert html.count("<script") == html.count(f'nonce="{nonce}"'), url
        assert " style=" not in html and "onclick" not in html, url


def test_dashboard_lists_my_projects_with_my_role(
    client_for: Callable[[Any], Client],
    ada: Any,
    project: Project,
    make_user: Any,
    make_project: Any,
    add_member: Any,
) -> None:
    other = make_project(owner=make_user("zed"), name="Zed's secret")
    shared = make_project(owner=make_user("yan"), name="Shared reel")
    add_member(shared, ada, Role.VIEWER)
    Activity.objects.create(project=other, actor=other.created_by, verb="did something private")
    html = client_for(ada).get("/").content.decode()
    assert "Harbour film" in html and "Shared reel" in html and "Zed&#x27;s secret" not in html
    assert "did something private" not in html
    assert 'ws-connect="/ws/dashboard/"' in html and 'hx-ext="ws"' in html
    assert 'class="badge role-viewer">Viewer' in html


def test_project_page_has_every_section(
    client_for: Callable[[Any], Client], ada: Any, project: Project
) -> None:
    Series.objects.create(project=project, name="Weekly")
    Character.objects.create(project=project, name="Mara", look="oilskin")
    Location.objects.create(project=project, name="Pier", mood="grey dawn")
    html = client_for(ada).get(f"/projects/{project.pk}/").content.decode()
    for section in (
        "project-header",
        "project-members",
        "project-member-invite",
        "project-series",
        "project-characters",
        "project-locations",
        "project-activity",
        "project-scripts",
        "project-roundtables",
        "project-videos",
    ):
        assert f'id="{section}"' in html, section
    assert "Weekly" in html and "Mara" in html and "grey dawn" in html
    assert f'ws-connect="/ws/projects/{project.pk}/"' in html


def test_names_are_escaped(
    client_for: Callable[[Any], Client], ada: Any, make_project: Any
) -> None:
    project = make_project(owner=ada, name="<script>alert(1)</script>")
    Character.objects.create(project=project, name="<img src=x onerror=alert(1)>")
    for url in ("/", f"/projects/{project.pk}/", f"/projects/{project.pk}/characters/"):
        html = client_for(ada).get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, url


def test_create_project_shows_errors_in_place(
    client_for: Callable[[Any], Client], ada: Any
) -> None:
    client = client_for(ada)
    response = client.post("/projects/new/", {"name": "   ", "description": "d"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_name_error"' in html and 'class="form-row field-error"' in html
    assert 'aria-invalid="true" aria-describedby="id_name_error" id="id_name"' in html
    assert 'data-testid="error-name"' in html
    assert "d</textarea>" in html, "what was typed is kept"
    ok = client.post("/projects/new/", {"name": "Reel", "description": ""})
    project = Project.objects.get(name="Reel")
    assert ok["Location"] == f"/projects/{project.pk}/"
    assert Membership.objects.get(project=project).role == Role.OWNER


def test_htmx_requests_are_sent_on_with_hx_redirect(
    client_for: Callable[[Any], Client], ada: Any, project: Project
) -> None:
    client = client_for(ada)
    htmx = {"HX-Request": "true"}
    created = client.post("/projects/new/", {"name": "Reel", "description": ""}, headers=htmx)
    reel = Project.objects.get(name="Reel")
    assert created.status_code == 200 and "Location" not in created
    assert created["HX-Redirect"] == f"/projects/{reel.pk}/"
    added = client.post(f"/projects/{project.pk}/series/new/", {"name": "Weekly"}, headers=htmx)
    assert added["HX-Redirect"] == f"/projects/{project.pk}/series/"
    invalid = client.post("/projects/new/", {"name": "  "}, headers=htmx)
    assert invalid.status_code == 400 and "HX-Redirect" not in invalid


def test_world_forms_show_errors_in_place(
    client_for: Callable[[Any], Client], ada: Any, project: Project
) -> None:
    client = client_for(ada)
    for kind in ("series", "characters", "locations"):
        response = client.post(
            f"/projects/{project.pk}/{kind}/new/", {"name": "", "description": "kept"}
        )
        assert response.status_code == 400
        assert 'id="id_name_error"' in response.content.decode()
    long_mood = client.post(
        f"/projects/{project.pk}/locations/new/", {"name": "Pier", "mood": "m" * 201}
    )
    assert 'id="id_mood_error"' in long_mood.content.decode()
    assert not Location.objects.exists()


def test_world_crud_round_trip(
    client_for: Callable[[Any], Client], ada: Any, project: Project
) -> None:
    client = client_for(ada)
    client.post(
        f"/projects/{project.pk}/characters/new/",
        {"name": "Mara", "description": "Harbour master", "look": "oilskin", "voice": "low"},
    )
    mara = Character.objects.get(project=project)
    assert (mara.look, mara.voice) == ("oilskin", "low")
    listing = client.get(f"/projects/{project.pk}/characters/").content.decode()
    assert "Harbour master" in listing and "oilskin" in listing
    client.post(
        f"/projects/{project.pk}/characters/{mara.pk}/edit/", {"name": "Mara B.", "look": "coat"}
    )
    mara.refresh_from_db()
    assert (mara.name, mara.look) == ("Mara B.", "coat")
    confirm = client.get(f"/projects/{project.pk}/characters/{mara.pk}/delete/")
    assert "Mara B." in confirm.content.decode()
    client.post(f"/projects/{project.pk}/characters/{mara.pk}/delete/")
    assert not Character.objects.exists()


def test_items_of_another_project_are_not_found(
    client_for: Callable[[Any], Client], ada: Any, project: Project, make_project: Any
) -> None:
    mine = make_project(owner=ada, name="Second")
    item = Series.objects.create(project=project, name="Weekly")
    response = client_for(ada).get(f"/projects/{mine.pk}/series/{item.pk}/edit/")
    assert response.status_code == 404


def test_delete_needs_the_name_typed(
    client_for: Callable[[Any], Client], ada: Any, project: Project
) -> None:
    client = client_for(ada)
    wrong = client.post(f"/projects/{project.pk}/delete/", {"confirm": "harbour"})
    assert wrong.status_code == 400 and 'id="id_confirm_error"' in wrong.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()
    assert (
        client.post(f"/projects/{project.pk}/delete/", {"confirm": "Harbour film"}).status_code
        == 302
    )
    assert not Project.objects.filter(pk=project.pk).exists()


def test_invite_errors_in_place(
    client_for: Callable[[Any], Client], ada: Any, project: Project, make_user: Any
) -> None:
    client = client_for(ada)
    response = client.post(f"/projects/{project.pk}/members/", {"user": "ghost", "role": "editor"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_user_error"' in html and "ghost" in html
    make_user("ben")
    client.post(f"/projects/{project.pk}/members/", {"user": "ben", "role": "editor"})
    again = client.post(f"/projects/{project.pk}/members/", {"user": "ben", "role": "viewer"})
    assert "already a member" in again.content.decode()


def test_last_owner_rules_on_the_pages(
    client_for: Callable[[Any], Client], ada: Any, project: Project
) -> None:
    client = client_for(ada)
    mine = Membership.objects.get(project=project, user=ada)
    leave = client.post(f"/projects/{project.pk}/leave/")
    assert leave.status_code == 409 and "last owner" in leave.content.decode()
    demote = client.post(f"/projects/{project.pk}/members/{mine.pk}/role/", {"role": "viewer"})
    assert demote.status_code == 409 and 'id="project-member-error"' in demote.content.decode()
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_a_member_leaves(
    client_for: Callable[[Any], Client], project: Project, make_user: Any, add_member: Any
) -> None:
    ben = make_user("ben")
    add_member(project, ben, Role.EDITOR)
    response = client_for(ben).post(f"/projects/{project.pk}/leave/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Membership.objects.filter(project=project, user=ben).exists()


def test_admin_lists_every_model(
    client_for: Callable[[Any], Client], make_user: Any, project: Project
) -> None:
    staff = make_user("root", is_staff=True, is_superuser=True)
    token, raw = token_create(user=staff, name="ops")
    Series.objects.create(project=project, name="Weekly")
    Character.objects.create(project=project, name="Mara")
    Location.objects.create(project=project, name="Pier")
    Activity.objects.create(project=project, actor=staff, verb="did a thing")
    client = client_for(staff)
    for model in (
        "accounts/apitoken",
        "projects/project",
        "projects/membership",
        "projects/series",
        "projects/character",
        "projects/location",
        "projects/activity",
        "auth/user",
    ):
        response = client.get(f"/admin/{model}/?q=a")
        assert response.status_code == 200, model
    tokens = client.get("/admin/accounts/apitoken/").content.decode()
    assert token.display_prefix in tokens and token.secret_hash not in tokens and raw not in tokens
    detail = client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert token.secret_hash not in detail
    assert client.get(f"/admin/projects/project/{project.pk}/change/").status_code == 200
    assert client_for(make_user("plain")).get("/admin/").status_code == 302


async def asgi_get(path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    """GET ``path`` through the real ASGI application: status, headers (lower-case), body."""
    from asgiref.testing import ApplicationCommunicator

    from aura_site.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=30)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=30)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return start["status"], {k.lower(): v for k, v in start["headers"]}, body


async def test_static_files_and_pages_through_the_asgi_application() -> None:
    """The ASGI application serves static files from the asynchronous middleware chain, with
    WhiteNoise's caching headers, and passes every other path on (answering 404 for a static
    path that does not exist)."""
    status, headers, body = await asgi_get("/static/css/studio.css")
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/css")
    assert b"cache-control" in headers
    assert body == (Path(__file__).parents[2] / "static/css/studio.css").read_bytes()

    status, _, body = await asgi_get("/static/css/missing.css")
    assert status == 404

    status, headers, body = await asgi_get("/health")
    assert status == 200


async def test_concurrent_requests_share_a_few_request_threads() -> None:
    """Fifty requests at once run their synchronous middleware and views on the handler's few
    long-lived threads, not on a thread started per request."""
    import asyncio
    import threading

    from aura_site.asgi_handler import REQUEST_THREADS

    await asgi_get("/accounts/login/")
    before = {thread.ident for thread in threading.enumerate()}
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            now = {thread.ident for thread in threading.enumerate()}
            peak = max(peak, len(now - before))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    answers = await asyncio.gather(*(asgi_get("/accounts/login/") for _ in range(50)))
    done.set()
    await watcher
    assert [status for status, _, _ in answers] == [200] * 50
    # At most the request threads, and a few of the loop's own executor (Django's stock handler
    # starts one thread per request: 50 here).
    assert peak <= REQUEST_THREADS + 4
    names = {thread.name for thread in threading.enumerate()}
    assert any(name.startswith("request-") for name in names)


async def test_a_blocked_synchronous_view_holds_back_no_other_request(settings: Any) -> None:
    """A sync view stuck on its thread: requests arriving once it has been running a while go to
    the other threads and are answered at once."""
    import asyncio

    from aura_site.asgi_handler import STUCK_SECONDS
    from tests.projects import slow_urls

    settings.ROOT_URLCONF = "tests.projects.slow_urls"
    slow_urls.release.clear()
    slow_urls.entered.clear()
    blocked = asyncio.create_task(asgi_get("/slow/"))
    try:
        assert await asyncio.to_thread(slow_urls.entered.wait, 10)
        await asyncio.sleep(STUCK_SECONDS * 4)
        answers = await asyncio.wait_for(
            asyncio.gather(*(asgi_get("/quick/") for _ in range(40))), timeout=20
        )
        assert [(status, body) for status, _, body in answers] == [(200, b"quick")] * 40
        assert not blocked.done()
    finally:
        slow_urls.release.set()
    status, _, body = await blocked
    assert (status, body) == (200, b"slow")
