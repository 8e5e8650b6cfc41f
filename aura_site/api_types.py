"""Types the API's operations share: object ids bounded to what the database can hold,
so an id no row can have is refused as bad input (400), never sent to a query."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from ninja import Path
from pydantic import Field, PlainSerializer

ID_MAX = 2**63 - 1
"""The largest value of a 64-bit signed integer column (PostgreSQL ``bigint``, SQLite)."""

Id = Annotated[int, Field(ge=1, le=ID_MAX)]
PathId = Annotated[int, Path(ge=1, le=ID_MAX)]

Money = Annotated[Decimal, PlainSerializer(lambda value: format(value, "f"), return_type=str)]
"""An amount of USD, written in plain digits ("0.00000000", never "0E-8")."""
