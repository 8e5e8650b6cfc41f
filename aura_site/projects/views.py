from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aura_site.http import HtmxHttpRequest, redirect_to
from aura_site.projects import live, selectors, services
from aura_site.projects.forms import (
    WORLD_KINDS,
    MemberAddForm,
    MemberRoleForm,
    ProjectDeleteForm,
    ProjectForm,
    WorldKind,
)
from aura_site.projects.models import Membership, Project, Role


def _project_url(project: Project, anchor: str = "") -> str:
    url = reverse("projects:detail", args=[project.pk])
    return f"{url}#{anchor}" if anchor else url


def _render_project(
    request: HtmxHttpRequest,
    project: Project,
    membership: Membership,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    context = live.project_context(project, membership)
    context.update(extra)
    return render(request, live.PROJECT_TEMPLATE, context, status=status)


@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, live.DASHBOARD_TEMPLATE, live.dashboard_context(request.user))


@require_http_methods(["GET", "POST"])
def project_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(
            user=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
        )
        messages.success(request, f"Project “{project.name}” created. You are its owner.")
        return redirect_to(request, _project_url(project))
    status = 400 if form.is_bound else 200
    return render(request, "projects/project_form.html", {"form": form}, status=status)


@require_GET
def project_detail(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id)
    return _render_project(request, project, membership)


@require_http_methods(["GET", "POST"])
def project_edit(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id, Role.EDITOR)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        services.project_update(
            project=project,
            actor=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
        )
        messages.success(request, "Project details saved.")
        return redirect_to(request, _project_url(project))
    status = 400 if form.is_bound else 200
    context = {"form": form, "project": project, "membership": membership}
    return render(request, "projects/project_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def project_delete(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id, Role.OWNER)
    form = ProjectDeleteForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        name = project.name
        services.project_delete(project=project, actor=request.user)
        messages.success(request, f"Project “{name}” deleted.")
        return redirect_to(request, "projects:dashboard")
    status = 400 if form.is_bound else 200
    context = {"form": form, "project": project, "membership": membership}
    return render(request, "projects/project_delete.html", context, status=status)


@require_http_methods(["GET", "POST"])
def project_leave(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id)
    error = ""
    if request.method == "POST":
        try:
            services.member_leave(project=project, user=request.user)
        except services.LastOwnerError as exc:
            error = exc.message
        else:
            messages.success(request, f"You left “{project.name}”.")
            return redirect_to(request, "projects:dashboard")
    context = {"project": project, "membership": membership, "error": error}
    return render(request, "projects/project_leave.html", context, status=409 if error else 200)


@require_POST
def member_add(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id, Role.OWNER)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            added = services.member_add(
                project=project,
                actor=request.user,
                identifier=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
            )
        except services.ProjectRuleError as exc:
            form.add_error(exc.field or None, exc.message)
        else:
            messages.success(
                request, f"{added.user.get_username()} joined as {added.get_role_display()}."
            )
            return redirect_to(request, _project_url(project, "project-members"))
    return _render_project(request, project, membership, status=400, invite_form=form)


@require_POST
def member_role(request: HtmxHttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id, Role.OWNER)
    target = selectors.membership_in_project(project, membership_id)
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        try:
            services.member_set_role(
                project=project,
                actor=request.user,
                membership=target,
                role=form.cleaned_data["role"],
            )
        except services.ProjectRuleError as exc:
            return _render_project(
                request,
                project,
                membership,
                status=exc.status,
                member_error=f"{target.user.get_username()}: {exc.message}",
            )
        if target.user_id == request.user.pk and form.cleaned_data["role"] != Role.OWNER:
            messages.success(request, "Your role is changed.")
        return redirect_to(request, _project_url(project, "project-members"))
    return _render_project(
        request,
        project,
        membership,
        status=400,
        member_error=f"{target.user.get_username()}: choose owner, editor or viewer.",
    )


@require_POST
def member_remove(request: HtmxHttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id)
    target = selectors.membership_in_project(project, membership_id)
    if target.user_id == request.user.pk:
        return redirect_to(request, "projects:leave", project.pk)
    project, membership = selectors.project_for_user(request.user, project_id, Role.OWNER)
    try:
        services.member_remove(project=project, actor=request.user, membership=target)
    except services.ProjectRuleError as exc:
        return _render_project(
            request,
            project,
            membership,
            status=exc.status,
            member_error=f"{target.user.get_username()}: {exc.message}",
        )
    messages.success(request, f"{target.user.get_username()} was removed from the project.")
    return redirect_to(request, _project_url(project, "project-members"))


def _kind(kind: str) -> WorldKind:
    return WORLD_KINDS[kind]


@require_GET
def world_list(request: HtmxHttpRequest, project_id: int, kind: str) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id)
    context = {
        "project": project,
        "membership": membership,
        "can_edit": membership.can(Role.EDITOR),
        "kind": _kind(kind),
        "items": selectors.world_items(project, kind),
    }
    return render(request, "projects/world_list.html", context)


@require_http_methods(["GET", "POST"])
def world_create(request: HtmxHttpRequest, project_id: int, kind: str) -> HttpResponse:
    project, membership = selectors.project_for_user(request.user, project_id, Role.EDITOR)
    world = _kind(kind)
    form = world.form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        item = services.world_item_create(
            project=project,
            actor=request.user,
            model=selectors.WORLD_MODELS[kind],
            fields=form.cleaned_data,
        )
        messages.success(request, f"Added the {world.singular} “{item.name}”.")
        return redirect_to(request, "projects:world_list", project.pk, kind)
    status = 400 if form.is_bound else 200
    context = {"project": project, "membership": membership, "kind": world, "form": form}
    return render(request, "projects/world_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def world_edit(request: HtmxHttpRequest, project_id: int, kind: str, item_id: int) -> HttpResponse:
    item, membership = selectors.world_item_for_user(
        request.user, project_id, kind, item_id, Role.EDITOR
    )
    world = _kind(kind)
    form = world.form(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        services.world_item_update(item=item, actor=request.user, fields=form.cleaned_data)
        messages.success(request, f"Saved the {world.singular} “{item.name}”.")
        return redirect_to(request, "projects:world_list", item.project.pk, kind)
    status = 400 if form.is_bound else 200
    context = {
        "project": item.project,
        "membership": membership,
        "kind": world,
        "form": form,
        "item": item,
    }
    return render(request, "projects/world_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def world_delete(
    request: HtmxHttpRequest, project_id: int, kind: str, item_id: int
) -> HttpResponse:
    item, membership = selectors.world_item_for_user(
        request.user, project_id, kind, item_id, Role.EDITOR
    )
    world = _kind(kind)
    if request.method == "POST":
        name = item.name
        services.world_item_delete(item=item, actor=request.user)
        messages.success(request, f"Deleted the {world.singular} “{name}”.")
        return redirect_to(request, "projects:world_list", project_id, kind)
    context = {"project": item.project, "membership": membership, "kind": world, "item": item}
    return render(request, "projects/world_delete.html", context)
