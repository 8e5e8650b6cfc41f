"""Project routes of the API: list my projects, create one, add a member."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from aura_site.api_errors import errors
from aura_site.api_types import PathId
from aura_site.projects import selectors, services
from aura_site.projects.models import Membership, Role

router = Router(tags=["projects"])

RoleName = Literal["owner", "editor", "viewer"]


class ProjectIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)] = ""


class ProjectOut(Schema):
    id: int
    name: str
    description: str
    role: RoleName
    created_at: datetime
    updated_at: datetime


class MemberIn(Schema):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    role: RoleName = Field(description="owner, editor or viewer")

    @model_validator(mode="after")
    def _one_identifier(self) -> Self:
        if bool(self.username) == bool(self.email):
            raise ValueError("Give exactly one of username or email.")
        return self


class UserOut(Schema):
    id: int
    username: str


class MemberOut(Schema):
    project_id: int
    user: UserOut
    role: RoleName
    created_at: datetime


def _caller(request: HttpRequest) -> Any:
    """The user the API's auth resolved (token or session)."""
    return request.auth  # type: ignore[attr-defined]


def _project_out(membership: Membership) -> ProjectOut:
    project = membership.project
    return ProjectOut(
        id=project.pk,
        name=project.name,
        description=project.description,
        role=membership.role,  # type: ignore[arg-type]
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


@router.get(
    "/projects",
    response={200: list[ProjectOut], **errors()},
    summary="Projects I belong to, with my role",
)
def list_projects(request: HttpRequest) -> list[ProjectOut]:
    return [_project_out(m) for m in selectors.memberships_for_user(_caller(request))]


@router.post(
    "/projects",
    response={201: ProjectOut, **errors(409)},
    summary="Create a project; I become owner",
)
def create_project(request: HttpRequest, payload: ProjectIn) -> Status[ProjectOut]:
    project = services.project_create(
        user=_caller(request), name=payload.name, description=payload.description
    )
    membership = selectors.membership_get(_caller(request), project.pk)
    return Status(201, _project_out(membership))


@router.post(
    "/projects/{project_id}/members",
    response={201: MemberOut, **errors(403, 404, 409)},
    summary="Add an existing user to a project (owners only)",
)
def add_member(request: HttpRequest, project_id: PathId, payload: MemberIn) -> Status[MemberOut]:
    project, _ = selectors.project_for_user(_caller(request), project_id, Role.OWNER)
    identifier = payload.username or payload.email or ""
    try:
        membership = services.member_add(
            project=project, actor=_caller(request), identifier=identifier, role=payload.role
        )
    except services.ProjectRuleError as exc:
        if exc.field == "user":
            exc.field = "email" if payload.email else "username"
        raise
    return Status(
        201,
        MemberOut(
            project_id=project.pk,
            user=UserOut(id=membership.user.pk, username=membership.user.get_username()),
            role=membership.role,  # type: ignore[arg-type]
            created_at=membership.created_at,
        ),
    )
