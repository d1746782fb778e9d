"""Migrations on a fresh database of each backend: up to head, down and up again, and
the schema they build is the one the models describe."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from tests.conftest import make_app

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


@pytest.fixture
def fresh_url(database_url, postgres_server, tmp_path):
    """An empty database on the same backend as `database_url`."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _references(url: str) -> dict[str, list[str]]:
    """Which tables each table's foreign keys point at."""
    engine = create_engine(url)
    try:
        tables = ("contact_tags", "consent_events", "contacts", "messages")
        found = {t: inspect(engine).get_foreign_keys(t) for t in tables}
        return {t: sorted(fk["referred_table"] for fk in fks) for t, fks in found.items()}
    finally:
        engine.dispose()


def _partial_indexes(url: str) -> set[str]:
    """Names of the messages indexes that kept their WHERE (table rebuilds on SQLite)."""
    engine = create_engine(url)
    try:
        indexes = inspect(engine).get_indexes("messages")
        return {
            i["name"]
            for i in indexes
            if any(key.endswith("_where") for key in i.get("dialect_options", {}))
        }
    finally:
        engine.dispose()


def _billing_indexes(url: str) -> dict[str, bool]:
    """0011: the one-pending-top-up index is unique and partial; the ledger has its kind index."""
    engine = create_engine(url)
    try:
        found = {
            i["name"]: i
            for table in ("billing_purchases", "credit_ledger")
            for i in inspect(engine).get_indexes(table)
        }
    finally:
        engine.dispose()
    pending = found.get("uq_billing_purchases_one_pending_topup") or {}
    partial = any(k.endswith("_where") for k in pending.get("dialect_options", {}))
    return {
        "one_pending_topup": bool(pending.get("unique")) and partial,
        "ledger_by_kind": "ix_credit_ledger_shop_kind_id" in found,
    }


def _not_search_index(obj, name, type_, reflected, compare_to) -> bool:
    """As migrations/env.py: the hand-written search indexes (0001) are not in the models."""
    return not (type_ == "index" and reflected and name.endswith(("_lower", "_prefix")))


def _drift(app) -> list:
    from astronote.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _not_search_index, "compare_type": False}
        )
        return compare_metadata(context, db.metadata)


def test_round_trip_and_models_match(fresh_url):
    from flask_migrate import downgrade, upgrade

    app = make_app(fresh_url)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
    head = {
        "contact_tags": ["contacts"],
        "consent_events": ["contacts"],
        "contacts": ["shops"],
        "messages": ["shops"],
    }
    assert _references(fresh_url) == head
    partial = _partial_indexes(fresh_url)
    assert len(partial) == 5, partial
    assert _billing_indexes(fresh_url) == {"one_pending_topup": True, "ledger_by_kind": True}
    assert _drift(app) == []
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0005")
    before = _references(fresh_url)
    assert before["contact_tags"] == ["contacts", "shops"]
    assert before["messages"] == ["campaigns", "contacts", "shops"]
    # 0010 added the one-off queue index; the four older ones survive the table rebuilds.
    assert _partial_indexes(fresh_url) == partial - {"ix_messages_single_queued"}
    with app.app_context():
        upgrade(directory=MIGRATIONS)
    assert _references(fresh_url) == head
    assert _partial_indexes(fresh_url) == partial
    assert _drift(app) == []
    from astronote.extensions import db

    with app.app_context():
        db.engine.dispose()
