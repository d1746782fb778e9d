"""Dialect helpers for set-based SQL that must run on PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from astronote.extensions import db


def insert(table: Table):
    """An INSERT that supports ON CONFLICT on the session's dialect."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def force_custom_plans() -> None:
    """Plan this transaction's queries for their actual values (PostgreSQL).

    psycopg prepares a statement after five executions and PostgreSQL may then
    switch to a generic plan, made without knowing the values. For a prefix
    search (LIKE $1) or a skewed filter that plan can be a full scan: 10 ms
    becomes 100 ms from the sixth request on. Planning takes well under 1 ms.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def vacuum_analyze(*tables: str) -> None:
    """VACUUM (ANALYZE) after a bulk load, as PostgreSQL advises; no-op elsewhere.

    ANALYZE, or the planner meets a million new rows blind and an indexed search
    becomes a full scan; VACUUM, or the visibility map stays empty and every
    "index-only" count visits the heap. Autovacuum would get there in minutes.
    Runs on its own connection: VACUUM refuses to run inside a transaction.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            connection.execute(text(f"VACUUM (ANALYZE) {table}"))


def count_capped(query, cap: int) -> int:
    """COUNT(*) that stops at `cap`: exact for small sets, cheap for a million."""
    limited = query.order_by(None).limit(cap + 1)
    return db.session.execute(select(func.count()).select_from(limited.subquery())).scalar_one()


def values_table(name: str, columns: dict, rows: list[tuple]):
    """A VALUES list usable in UPDATE ... FROM: one statement for many per-row values.

    Replaces executemany (one round trip per row on some drivers) on hot paths.
    Both PostgreSQL and SQLite (3.33+) support UPDATE ... FROM.
    """
    from sqlalchemy import column, values

    table = values(*(column(key, kind) for key, kind in columns.items()), name=name).data(rows)
    # As a CTE (WITH v(id, ...) AS (VALUES ...)): SQLite cannot alias VALUES columns inline.
    return table.cte(name)


def avoid_nested_loops() -> None:
    """For the rest of this transaction, make PostgreSQL join a VALUES list by hashing.

    Filters such as `claim_token = :t` look very selective to the planner, which then
    nests a scan of the whole VALUES list inside every matching row: 5,000 x 5,000
    comparisons per chunk (seconds). A hash join does the same work in milliseconds.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL enable_nestloop = off"))
