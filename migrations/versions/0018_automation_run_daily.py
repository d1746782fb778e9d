"""Flow results rollup: runs per (shop, UTC day, flow, stage, status, skip reason).

- `automation_run_daily`: how many runs were created on each UTC day (`created_at`) and
  how they stand now (stage 'run': the run's status and skip reason), plus the runs whose
  one-off message was skipped or cancelled at send time (stage 'send': the message's
  status and reason). `skip_reason` '' stands for none (a key column cannot be NULL).
- Kept by database triggers, so the engine's writers stay as they are:
  on automation_runs INSERT and UPDATE (status, skip_reason, message_id) and on messages
  UPDATE OF status, skip_reason for one-off kinds ('automation', 'transactional'). On
  PostgreSQL the runs triggers are per statement (transition tables: a 1M-row scan adds
  one grouped upsert, not a million); the messages one is per row behind a WHEN clause
  that campaign rows fail before any function runs. SQLite: per-row triggers.
- UTC days, not the shop's (report_daily's): SQLite has no time zones and a shop may
  change its zone; the page reads whole UTC days here and the period's first partial
  day from the runs index (services/automations/stats.py).
- Backfilled here from existing runs and messages, so the rollup is right on upgrade.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

KEY = "shop_id, day, flow, stage, status, skip_reason"
SKIPS = "('skipped', 'cancelled')"
ONE_OFF = "('automation', 'transactional')"
ADD = f"ON CONFLICT ({KEY}) DO UPDATE SET runs = automation_run_daily.runs + excluded.runs"
PG_DAY = "({}.created_at AT TIME ZONE 'UTC')::date"
LITE_DAY = "date({}.created_at)"


def _rows(day: str, r: str, n: str, stage: str = "run", m: str | None = None) -> str:
    """SELECT list of one rollup row for run alias `r` (message alias `m` for 'send')."""
    source = m or r
    return (
        f"{r}.shop_id AS shop_id, {day.format(r)} AS day, {r}.flow AS flow, '{stage}' AS stage, "
        f"{source}.status AS status, COALESCE({source}.skip_reason, '') AS skip_reason, {n} AS n"
    )


def _insert(select: str) -> str:
    return f"INSERT INTO automation_run_daily ({KEY}, runs) {select} {ADD}"


def _grouped(parts: list[str]) -> str:
    union = " UNION ALL ".join(f"SELECT {p}" for p in parts)
    return _insert(
        f"SELECT {KEY}, sum(n) FROM ({union}) AS d WHERE true "
        f"GROUP BY {KEY} HAVING sum(n) <> 0 ORDER BY {KEY}"
    )


def _postgres() -> list[str]:
    pairs = "old_rows o JOIN new_rows r ON r.id = o.id"
    run_changed = "(o.status, o.skip_reason) IS DISTINCT FROM (r.status, r.skip_reason)"
    msg_changed = "o.message_id IS DISTINCT FROM r.message_id"
    inserted = _grouped(
        [
            f"{_rows(PG_DAY, 'r', '1')} FROM new_rows r",
            f"{_rows(PG_DAY, 'r', '1', 'send', 'm')} FROM new_rows r "
            f"JOIN messages m ON m.id = r.message_id WHERE m.status IN {SKIPS}",
        ]
    )
    updated = _grouped(
        [
            f"{_rows(PG_DAY, 'o', '-1')} FROM {pairs} WHERE {run_changed}",
            f"{_rows(PG_DAY, 'r', '1')} FROM {pairs} WHERE {run_changed}",
            f"{_rows(PG_DAY, 'o', '-1', 'send', 'm')} FROM {pairs} JOIN messages m "
            f"ON m.id = o.message_id WHERE {msg_changed} AND m.status IN {SKIPS}",
            f"{_rows(PG_DAY, 'r', '1', 'send', 'm')} FROM {pairs} JOIN messages m "
            f"ON m.id = r.message_id WHERE {msg_changed} AND m.status IN {SKIPS}",
        ]
    )
    message = _grouped(
        [
            f"{_rows(PG_DAY, 'r', '-1', 'send', 'OLD')} FROM automation_runs r "
            f"WHERE r.message_id = OLD.id AND OLD.status IN {SKIPS}",
            f"{_rows(PG_DAY, 'r', '1', 'send', 'NEW')} FROM automation_runs r "
            f"WHERE r.message_id = NEW.id AND NEW.status IN {SKIPS}",
        ]
    )
    return [
        "CREATE FUNCTION automation_run_daily_insert() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {inserted}; RETURN NULL; END $$",
        "CREATE FUNCTION automation_run_daily_update() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {updated}; RETURN NULL; END $$",
        "CREATE FUNCTION automation_run_daily_message() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {message}; RETURN NULL; END $$",
        "CREATE TRIGGER automation_runs_daily_insert AFTER INSERT ON automation_runs "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION automation_run_daily_insert()",
        "CREATE TRIGGER automation_runs_daily_update AFTER UPDATE ON automation_runs "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION automation_run_daily_update()",
        "CREATE TRIGGER messages_run_daily AFTER UPDATE OF status, skip_reason ON messages "
        f"FOR EACH ROW WHEN (NEW.kind IN {ONE_OFF} AND (OLD.status IN {SKIPS} "
        f"OR NEW.status IN {SKIPS}) AND (OLD.status, OLD.skip_reason) IS DISTINCT FROM "
        "(NEW.status, NEW.skip_reason)) EXECUTE FUNCTION automation_run_daily_message()",
    ]


def _sqlite() -> list[str]:
    def trigger(name: str, event: str, when: str, *statements: str) -> str:
        body = " ".join(f"{s};" for s in statements)
        return f"CREATE TRIGGER {name} AFTER {event} FOR EACH ROW WHEN {when} BEGIN {body} END"

    def run(alias: str, n: str) -> str:
        return _insert(f"SELECT {_rows(LITE_DAY, alias, n)} WHERE true")

    def send(alias: str, n: str) -> str:
        m = "m"
        return _insert(
            f"SELECT {_rows(LITE_DAY, alias, n, 'send', m)} FROM messages m "
            f"WHERE m.id = {alias}.message_id AND m.status IN {SKIPS}"
        )

    def message(alias: str, n: str) -> str:
        return _insert(
            f"SELECT {_rows(LITE_DAY, 'r', n, 'send', alias)} FROM automation_runs r "
            f"WHERE r.message_id = {alias}.id AND {alias}.status IN {SKIPS}"
        )

    return [
        trigger(
            "automation_runs_daily_insert",
            "INSERT ON automation_runs",
            "true",
            run("NEW", "1"),
            send("NEW", "1"),
        ),
        trigger(
            "automation_runs_daily_status",
            "UPDATE OF status, skip_reason ON automation_runs",
            "OLD.status IS NOT NEW.status OR OLD.skip_reason IS NOT NEW.skip_reason",
            run("OLD", "-1"),
            run("NEW", "1"),
        ),
        trigger(
            "automation_runs_daily_message",
            "UPDATE OF message_id ON automation_runs",
            "OLD.message_id IS NOT NEW.message_id",
            send("OLD", "-1"),
            send("NEW", "1"),
        ),
        trigger(
            "messages_run_daily",
            "UPDATE OF status, skip_reason ON messages",
            f"NEW.kind IN {ONE_OFF} AND (OLD.status IN {SKIPS} OR NEW.status IN {SKIPS}) "
            "AND (OLD.status IS NOT NEW.status OR OLD.skip_reason IS NOT NEW.skip_reason)",
            message("OLD", "-1"),
            message("NEW", "1"),
        ),
    ]


def _backfill(day: str) -> str:
    return _grouped(
        [
            f"{_rows(day, 'r', '1')} FROM automation_runs r",
            f"{_rows(day, 'r', '1', 'send', 'm')} FROM automation_runs r "
            f"JOIN messages m ON m.id = r.message_id WHERE m.status IN {SKIPS}",
        ]
    )


def upgrade():
    op.create_table(
        "automation_run_daily",
        sa.Column(
            "shop_id", sa.Integer(), sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("flow", sa.String(32), primary_key=True),
        sa.Column("stage", sa.String(8), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("skip_reason", sa.String(32), primary_key=True),
        sa.Column("runs", sa.Integer(), nullable=False, server_default="0"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_backfill(PG_DAY if postgres else LITE_DAY))
    for statement in _postgres() if postgres else _sqlite():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER messages_run_daily ON messages")
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER automation_runs_daily_{event} ON automation_runs")
        for name in ("insert", "update", "message"):
            op.execute(f"DROP FUNCTION automation_run_daily_{name}()")
    else:
        op.execute("DROP TRIGGER messages_run_daily")
        for name in ("insert", "status", "message"):
            op.execute(f"DROP TRIGGER automation_runs_daily_{name}")
    op.drop_table("automation_run_daily")
