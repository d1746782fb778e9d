"""The index the flow results read runs through (services/automations/stats.py).

Sent, delivered, failed and credits come from the daily rollup; what only runs know
(triggered, skipped and why) is counted from this index alone: on PostgreSQL an
index-only scan of the shop's runs in the period, never the table or its messages.
"""

from __future__ import annotations

from sqlalchemy import Index

from astronote.models.automation import AutomationRun

runs = AutomationRun.__table__
RUN_OUTCOME_INDEX = Index(
    "ix_automation_runs_outcome",
    runs.c.shop_id,
    runs.c.created_at,
    runs.c.flow,
    runs.c.status,
    runs.c.skip_reason,
)
