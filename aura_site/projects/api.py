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
from aura_site.projects.forms import TEXT_MAX
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


# ---------------------------------------------------------------------------------------------
# The project's world: series, characters, locations

WorldName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
WorldText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_MAX)]
Mood = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class SeriesIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: WorldName
    description: WorldText = ""


class SeriesPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: WorldName | None = None
    description: WorldText | None = None


class SeriesOut(Schema):
    id: int
    project: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class CharacterIn(SeriesIn):
    look: WorldText = Field("", description="How the character looks on screen.")
    voice: WorldText = Field("", description="How the character sounds and speaks.")


class CharacterPatch(SeriesPatch):
    look: WorldText | None = None
    voice: WorldText | None = None


class CharacterOut(SeriesOut):
    look: str
    voice: str


class LocationIn(SeriesIn):
    mood: Mood = ""


class LocationPatch(SeriesPatch):
    mood: Mood | None = None


class LocationOut(SeriesOut):
    mood: str


def _world_routes(
    kind: str, singular: str, schema_in: type[Schema], patch: type[Schema], out: type[Schema]
) -> None:
    """List, create, read, change and delete one kind of world item (members read, editors
    write)."""
    model = selectors.WORLD_MODELS[kind]
    fields = tuple(out.model_fields)

    def item_out(item: Any) -> Any:
        values = {name: getattr(item, name) for name in fields if name != "project"}
        return out.model_validate({**values, "project": item.project_id})

    @router.get(
        f"/projects/{{project_id}}/{kind}",
        response={200: list[out], **errors(404)},  # type: ignore[valid-type]
        summary=f"A project's {kind}",
        operation_id=f"world_{kind}_list",
    )
    def item_list(request: HttpRequest, project_id: PathId) -> list[Any]:
        project, _ = selectors.project_for_user(_caller(request), project_id)
        return [item_out(item) for item in selectors.world_items(project, kind)]

    def item_create(request: HttpRequest, project_id: PathId, payload: Schema) -> Any:
        project, _ = selectors.project_for_user(_caller(request), project_id, Role.EDITOR)
        item = services.world_item_create(
            project=project, actor=_caller(request), model=model, fields=payload.model_dump()
        )
        return Status(201, item_out(item))

    # The body's schema is this kind's (annotations are strings here, resolved by name).
    item_create.__annotations__["payload"] = schema_in
    router.post(
        f"/projects/{{project_id}}/{kind}",
        response={201: out, **errors(403, 404)},
        summary=f"Add a {singular} (editors)",
        operation_id=f"world_{kind}_create",
    )(item_create)

    @router.get(
        f"/projects/{{project_id}}/{kind}/{{item_id}}",
        response={200: out, **errors(404)},
        summary=f"A {singular}",
        operation_id=f"world_{kind}_detail",
    )
    def item_detail(request: HttpRequest, project_id: PathId, item_id: PathId) -> Any:
        item, _ = selectors.world_item_for_user(_caller(request), project_id, kind, item_id)
        return item_out(item)

    def item_update(
        request: HttpRequest, project_id: PathId, item_id: PathId, payload: Schema
    ) -> Any:
        item, _ = selectors.world_item_for_user(
            _caller(request), project_id, kind, item_id, Role.EDITOR
        )
        changes = payload.model_dump(exclude_none=True)
        return item_out(
            services.world_item_update(item=item, actor=_caller(request), fields=changes)
        )

    item_update.__annotations__["payload"] = patch
    router.patch(
        f"/projects/{{project_id}}/{kind}/{{item_id}}",
        response={200: out, **errors(403, 404)},
        summary=f"Change a {singular} (editors)",
        operation_id=f"world_{kind}_update",
    )(item_update)

    @router.delete(
        f"/projects/{{project_id}}/{kind}/{{item_id}}",
        response={204: None, **errors(403, 404)},
        summary=f"Delete a {singular} (editors)",
        operation_id=f"world_{kind}_delete",
    )
    def item_delete(request: HttpRequest, project_id: PathId, item_id: PathId) -> Status[None]:
        item, _ = selectors.world_item_for_user(
            _caller(request), project_id, kind, item_id, Role.EDITOR
        )
        services.world_item_delete(item=item, actor=_caller(request))
        return Status(204, None)


_world_routes("series", "series", SeriesIn, SeriesPatch, SeriesOut)
_world_routes("characters", "character", CharacterIn, CharacterPatch, CharacterOut)
_world_routes("locations", "location", LocationIn, LocationPatch, LocationOut)
