"""Dialect helpers for set-based SQL that must run on PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import Table, any_, bindparam, column, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from astronote.extensions import db


def on_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def insert(table: Table):
    """An INSERT that supports ON CONFLICT on the session's dialect."""
    return (postgresql if on_postgres() else sqlite).insert(table)


def escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def force_custom_plans() -> None:
    """Plan this transaction's queries for their actual values (PostgreSQL).

    psycopg prepares a statement after five executions and PostgreSQL may then
    switch to a generic plan, made without knowing the values. For a prefix
    search (LIKE $1) or a skewed filter that plan can be a full scan: 10 ms
    becomes 100 ms from the sixth request on. Planning takes well under 1 ms.
    """
    if on_postgres():
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def vacuum_analyze(*tables: str) -> None:
    """VACUUM (ANALYZE) after a bulk load, as PostgreSQL advises; no-op elsewhere.

    ANALYZE, or the planner meets a million new rows blind and an indexed search
    becomes a full scan; VACUUM, or the visibility map stays empty and every
    "index-only" count visits the heap. Autovacuum would get there in minutes.
    Runs on its own connection: VACUUM refuses to run inside a transaction.
    """
    if not on_postgres():
        return
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            connection.execute(text(f"VACUUM (ANALYZE) {table}"))


def count_capped(query, cap: int) -> int:
    """COUNT(*) that stops at `cap`: exact for small sets, cheap for a million."""
    limited = query.order_by(None).limit(cap + 1)
    return db.session.execute(select(func.count()).select_from(limited.subquery())).scalar_one()


def _array(values, kind):
    return bindparam(None, list(values), type_=postgresql.ARRAY(kind))


def in_list(column_, values):
    """`column IN (values)` for thousands of values, cheap for the client.

    On PostgreSQL it is `column = ANY(:array)`: one parameter, so the statement
    text stays short and constant. An expanded IN list makes SQLAlchemy render,
    and the driver parse, one placeholder per value on every call, which cost
    the send path more CPU than PostgreSQL spent executing it.
    """
    if on_postgres():
        return column_ == any_(_array(values, column_.type))
    return column_.in_(list(values))


def values_table(name: str, columns: dict, rows: list[tuple]):
    """Per-row values usable in UPDATE ... FROM: one statement for many rows.

    PostgreSQL: `unnest(:ids, :bodies, ...) AS v(id, body, ...)`, one array
    parameter per column (see in_list). SQLite (3.33+): a VALUES list as a CTE,
    since SQLite cannot alias VALUES columns inline.
    """
    if on_postgres():
        arrays = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
        args = [_array(values, kind) for values, kind in zip(arrays, columns.values(), strict=True)]
        names = [column(key, kind) for key, kind in columns.items()]
        return func.unnest(*args).table_valued(*names).render_derived(name=name)
    from sqlalchemy import values

    names = (column(key, kind) for key, kind in columns.items())
    return values(*names, name=name).data(rows).cte(name)


def avoid_nested_loops() -> None:
    """For the rest of this transaction, make PostgreSQL join a VALUES list by hashing.

    Filters such as `claim_token = :t` look very selective to the planner, which then
    nests a scan of the whole VALUES list inside every matching row: 5,000 x 5,000
    comparisons per chunk (seconds). A hash join does the same work in milliseconds.
    """
    if on_postgres():
        db.session.execute(text("SET LOCAL enable_nestloop = off"))
