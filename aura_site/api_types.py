"""Types the API's operations share: object ids bounded to what the database can hold,
so an id no row can have is refused as bad input (400), never sent to a query."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from ninja import Path
from pydantic import Field, PlainSerializer, WithJsonSchema

from aura_site.money import plain

ID_MAX = 2**63 - 1
"""The largest value of a 64-bit signed integer column (PostgreSQL ``bigint``, SQLite)."""

Id = Annotated[int, Field(ge=1, le=ID_MAX)]
PathId = Annotated[int, Path(ge=1, le=ID_MAX)]

Money = Annotated[Decimal, PlainSerializer(plain, return_type=str)]
"""An amount of USD, written in plain digits ("0.00000000", never "0E-8")."""


def enum_schema(values: Sequence[str], *, max_length: int = 40, description: str = "") -> Any:
    """``WithJsonSchema`` of a name the OpenAPI document lists as an enum of ``values`` (a
    provider or a platform). The operation's service still checks the value against what is
    configured when the request comes, and refuses an unknown one with its own error code."""
    schema: dict[str, Any] = {"type": "string", "enum": list(values), "maxLength": max_length}
    if description:
        schema["description"] = description
    return WithJsonSchema(schema)
