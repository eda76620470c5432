"""Small SQL expressions shared by repositories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute


def any_of(column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY($1)``, the values passed as one array: the same statement whatever their number. (``IN``
    writes one parameter per value, so every new count is a new statement, compiled, prepared and planned anew:
    measured 1 ms against 0.5 ms for 5 ids of varying count, 11 ms against 5 ms for 1,000.)"""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
