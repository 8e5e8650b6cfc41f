"""Where the script pages live: under their project, the old /scripts/<project_id>/... addresses
answering 301, no clash with the project's own pages, and the membership rules at the new
addresses."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import resolve, reverse

from aura_site.projects.forms import WORLD_KINDS
from aura_site.urls import PRODUCT_PAGES
from generation.runs.models import Run
from generation.scripts.models import Persona, Script, VersionSource
from generation.scripts.services import script_create, script_input_clean, script_version_add
from generation.scripts.urls import urlpatterns

pytestmark = pytest.mark.django_db

# One sample of arguments after the project id for every script page.
SAMPLE_ARGS: dict[str, list[Any]] = {
    "list": [],
    "new": [],
    "guidance": [],
    "personas": [],
    "persona_new": [],
    "persona_edit": [4],
    "persona_delete": [4],
    "detail": [12],
    "regenerate": [12],
    "continue": [12, 2],
    "edit": [12],
    "compare": [12],
    "export": [12, 2, "md"],
}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def a_script(team: Any) -> Script:
    cleaned = script_input_clean(team.project, {"topic": "Night photography for beginners"})
    script = script_create(project=team.project, user=team.editor, cleaned=cleaned)
    script_version_add(script, text="## Hook\n\nHello.", source=VersionSource.EDIT)
    script_version_add(script, text="## Hook\n\nHello again.", source=VersionSource.EDIT)
    return script


def test_every_script_page_has_a_sample() -> None:
    assert {pattern.name for pattern in urlpatterns} == set(SAMPLE_ARGS)


@pytest.mark.parametrize("name", sorted(SAMPLE_ARGS))
def test_script_pages_live_under_their_project(name: str) -> None:
    url = reverse(f"scripts:{name}", args=[3, *SAMPLE_ARGS[name]])
    assert url.startswith("/projects/3/scripts/"), url
    match = resolve(url)
    assert match.namespace == "scripts" and match.url_name == name
    assert match.kwargs["project_id"] == 3


@pytest.mark.parametrize("product", ["scripts", "roundtables", "videos"])
def test_product_pages_do_not_clash_with_the_project_world(product: str) -> None:
    assert product not in WORLD_KINDS
    world = resolve("/projects/3/series/")
    assert world.namespace == "projects" and world.url_name == "world_list"
    if product in PRODUCT_PAGES:
        page = resolve(f"/projects/3/{product}/")
        app = PRODUCT_PAGES[product].rsplit(".", 1)[0]
        assert page.func.__module__.startswith(app), (product, page.func.__module__)


@pytest.mark.parametrize("name", sorted(SAMPLE_ARGS))
@pytest.mark.parametrize("who", ["anonymous", "outsider"])
def test_every_old_address_answers_301_with_the_query_string(
    name: str, who: str, team: Any
) -> None:
    pid = team.project.pk
    new = reverse(f"scripts:{name}", args=[pid, *SAMPLE_ARGS[name]])
    old = new.replace(f"/projects/{pid}/scripts/", f"/scripts/{pid}/", 1)
    client = Client() if who == "anonymous" else client_for(team.outsider)
    for method in ("get", "post", "head"):
        plain = getattr(client, method)(old)
        assert plain.status_code == 301, (method, old)
        assert plain["Location"] == new
    moved = client.get(old + "?v=2&q=caf%C3%A9+%26+co&streaming=off")
    assert moved.status_code == 301
    assert moved["Location"] == new + "?v=2&q=caf%C3%A9+%26+co&streaming=off"


def test_old_addresses_keep_redirecting_after_a_missing_slash(team: Any) -> None:
    client = client_for(team.viewer)
    pid = team.project.pk
    first = client.get(f"/scripts/{pid}")
    assert first.status_code == 301 and first["Location"] == f"/scripts/{pid}/"
    second = client.get(first["Location"])
    assert second.status_code == 301 and second["Location"] == f"/projects/{pid}/scripts/"
    assert client.get(second["Location"]).status_code == 200


def test_an_old_address_of_no_page_is_not_found(team: Any) -> None:
    client = client_for(team.viewer)
    pid = team.project.pk
    for old in (f"/scripts/{pid}/nothing-here/", f"/scripts/{pid}/12/export/2", "/scripts/x/"):
        assert client.get(old).status_code == 404, old


def test_the_new_addresses_keep_the_membership_rules(team: Any) -> None:
    script = a_script(team)
    persona = Persona.objects.create(project=team.project, name="Maya")
    base = f"/projects/{team.project.pk}/scripts"
    sid, ppk = script.pk, persona.pk
    reads = [
        f"{base}/",
        f"{base}/personas/",
        f"{base}/{sid}/",
        f"{base}/{sid}/compare/?a=1&b=2",
        f"{base}/{sid}/export/1.md",
    ]
    writes = [
        ("get", f"{base}/new/"),
        ("post", f"{base}/new/"),
        ("post", f"{base}/guidance/"),
        ("get", f"{base}/personas/new/"),
        ("post", f"{base}/personas/new/"),
        ("get", f"{base}/personas/{ppk}/edit/"),
        ("post", f"{base}/personas/{ppk}/edit/"),
        ("get", f"{base}/personas/{ppk}/delete/"),
        ("post", f"{base}/personas/{ppk}/delete/"),
        ("get", f"{base}/{sid}/edit/"),
        ("post", f"{base}/{sid}/edit/"),
        ("post", f"{base}/{sid}/regenerate/"),
        ("post", f"{base}/{sid}/continue/1/"),
    ]
    anonymous = Client()
    for url in reads:
        response = anonymous.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next=")
    outsider = client_for(team.outsider)
    for url in reads:
        assert outsider.get(url).status_code == 404, url
    for method, url in writes:
        assert getattr(outsider, method)(url).status_code == 404, (method, url)
    viewer = client_for(team.viewer)
    for url in reads:
        assert viewer.get(url).status_code == 200, url
    for method, url in writes:
        assert getattr(viewer, method)(url).status_code == 403, (method, url)
    editor = client_for(team.editor)
    for method, url in writes:
        if method == "get":
            assert editor.get(url).status_code == 200, url
    assert Persona.objects.filter(pk=ppk, name="Maya").exists()
    assert script.versions.count() == 2 and Run.objects.count() == 0


def test_another_projects_script_is_not_found_at_this_projects_address(
    team: Any, make_project: Any
) -> None:
    script = a_script(team)
    elsewhere = make_project(owner=team.editor, name="Elsewhere")
    editor = client_for(team.editor)
    assert editor.get(f"/projects/{elsewhere.pk}/scripts/{script.pk}/").status_code == 404
    assert editor.get(f"/projects/{team.project.pk}/scripts/{script.pk}/").status_code == 200
