"""Reports fixtures: the sending fixtures (simulator, funded shop, subscribers), a direct
computation from the base tables to hold the rollup against, and the rollup's rows."""

from collections import defaultdict

import pytest
from sqlalchemy import select

from astronote.models import ReportDaily
from astronote.models.report import COUNTERS
from tests.sending.conftest import funded, mitto_sim, read, sim, subscribers  # noqa: F401


@pytest.fixture
def rollup(db):
    """{(day, kind, source_id): {counter: value}} of one shop, zero counters left out."""

    def rows(shop_id: int) -> dict:
        db.session.expire_all()
        query = select(ReportDaily).where(ReportDaily.shop_id == shop_id)
        found = {}
        for row in db.session.execute(query).scalars():
            values = {name: getattr(row, name) for name in COUNTERS if getattr(row, name)}
            if values:
                found[(row.day, row.source_kind, row.source_id)] = values
        return found

    return rows


def totals(rows: dict) -> dict:
    summed: dict = defaultdict(int)
    for values in rows.values():
        for name, value in values.items():
            summed[name] += value
    return dict(summed)
