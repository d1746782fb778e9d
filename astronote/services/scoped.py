"""Load one row of one shop: the door every by-id lookup goes through."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from astronote.errors import NotFound
from astronote.extensions import db

Row = TypeVar("Row")


def get_owned(model: type[Row], shop_id: int, row_id: int, what: str, lock: bool = False) -> Row:
    """The shop's row, or NotFound (404): another shop's id is simply not found.

    `lock` takes the row lock (PostgreSQL) until the transaction ends."""
    query = select(model).filter_by(id=row_id, shop_id=shop_id)
    row = db.session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"That {what} does not exist.")
    return row
