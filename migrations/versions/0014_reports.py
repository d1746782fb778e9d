"""Reports: the daily rollup per shop, local day and source; a run's message index.

- `report_monthly`: the same counters per month, kept by triggers on report_daily
  (insert, update, delete: the difference is added), so the writers stay one statement
  and long periods read months, not days.

- `report_daily`: counters per (shop, day in the shop's zone, source kind, source id),
  bumped by the send, delivery-report, click, order and consent paths (services/reports).
  Correct for new data without a backfill; `flask astronote reports backfill` fills
  history from the base tables once (docs/REPORTS.md in the package docstring).
- `ix_automation_runs_message_id`: finds a one-off message's flow run (partial).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COUNTERS = (
    "sent",
    "delivered",
    "failed",
    "clicks",
    "unique_clicks",
    "orders",
    "opt_outs",
    "new_subscribers",
    "credits",
)
MONEY = ("revenue_cents", "refunds_cents")
HAS_MESSAGE = sa.text("message_id IS NOT NULL")
ALL = (*COUNTERS, *MONEY)
KEY = ("shop_id", "month", "source_kind", "source_id")


def _shop_key():
    return sa.Column(
        "shop_id", sa.Integer(), sa.ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )


def _counter_columns():
    return [
        *(sa.Column(n, sa.Integer(), nullable=False, server_default="0") for n in COUNTERS),
        *(sa.Column(n, sa.BigInteger(), nullable=False, server_default="0") for n in MONEY),
    ]


def _upsert(month: str, values: str, greatest: str) -> str:
    """INSERT the month's row or add to it; `values` are the counters' deltas."""
    names = ", ".join(ALL)
    added = ", ".join(f"{n} = report_monthly.{n} + excluded.{n}" for n in ALL)
    return (
        f"INSERT INTO report_monthly ({', '.join(KEY)}, last_day, {names}) "
        f"VALUES (NEW.shop_id, {month}, NEW.source_kind, NEW.source_id, NEW.day, {values}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET "
        f"last_day = {greatest}(report_monthly.last_day, excluded.last_day), {added}"
    )


def _subtract(month: str) -> str:
    minus = ", ".join(f"{n} = {n} - OLD.{n}" for n in ALL)
    return (
        f"UPDATE report_monthly SET {minus} WHERE shop_id = OLD.shop_id AND month = {month} "
        "AND source_kind = OLD.source_kind AND source_id = OLD.source_id"
    )


def _postgres_triggers() -> list[str]:
    month = "date_trunc('month', {}.day)::date"
    inserted = _upsert(month.format("NEW"), ", ".join(f"NEW.{n}" for n in ALL), "GREATEST")
    changed = _upsert(month.format("NEW"), ", ".join(f"NEW.{n} - OLD.{n}" for n in ALL), "GREATEST")
    return [
        f"""CREATE FUNCTION report_monthly_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN {inserted};
  ELSIF TG_OP = 'UPDATE' THEN {changed};
  ELSE {_subtract(month.format("OLD"))};
  END IF;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER report_daily_monthly AFTER INSERT OR UPDATE OR DELETE ON report_daily "
        "FOR EACH ROW EXECUTE FUNCTION report_monthly_apply()",
    ]


def _sqlite_triggers() -> list[str]:
    month = "date({}.day, 'start of month')"
    new_values = ", ".join(f"NEW.{n}" for n in ALL)
    deltas = ", ".join(f"NEW.{n} - OLD.{n}" for n in ALL)
    return [
        "CREATE TRIGGER report_daily_monthly_insert AFTER INSERT ON report_daily BEGIN "
        f"{_upsert(month.format('NEW'), new_values, 'max')}; END",
        "CREATE TRIGGER report_daily_monthly_update AFTER UPDATE ON report_daily BEGIN "
        f"{_upsert(month.format('NEW'), deltas, 'max')}; END",
        "CREATE TRIGGER report_daily_monthly_delete AFTER DELETE ON report_daily BEGIN "
        f"{_subtract(month.format('OLD'))}; END",
    ]


def upgrade():
    op.create_table(
        "report_daily",
        _shop_key(),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("source_kind", sa.String(8), primary_key=True),
        sa.Column("source_id", BigId, primary_key=True),
        *_counter_columns(),
    )
    op.create_index(
        "ix_report_daily_source", "report_daily", ["shop_id", "source_kind", "source_id", "day"]
    )
    op.create_table(
        "report_monthly",
        _shop_key(),
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("source_kind", sa.String(8), primary_key=True),
        sa.Column("source_id", BigId, primary_key=True),
        sa.Column("last_day", sa.Date(), nullable=False),
        *_counter_columns(),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _postgres_triggers() if postgres else _sqlite_triggers():
        op.execute(statement)
    op.create_index(
        "ix_automation_runs_message_id",
        "automation_runs",
        ["message_id"],
        postgresql_where=HAS_MESSAGE,
        sqlite_where=HAS_MESSAGE,
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER report_daily_monthly ON report_daily")
        op.execute("DROP FUNCTION report_monthly_apply()")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER report_daily_monthly_{event}")
    op.drop_table("report_monthly")
    op.drop_index("ix_automation_runs_message_id", table_name="automation_runs")
    op.drop_index("ix_report_daily_source", table_name="report_daily")
    op.drop_table("report_daily")
