"""Reports: campaigns and flows side by side, one campaign's or flow's days, CSV."""

from __future__ import annotations

from flask import Blueprint, g, request

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.htmx import render
from astronote.services.reports import export, pages, sources
from astronote.services.reports.figures import money, percent
from astronote.services.reports.periods import PRESETS
from astronote.views.streaming import csv_download

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.before_request(load_shop)


@bp.app_context_processor
def _helpers() -> dict:
    """Formatting shared by the dashboard, the reports and the campaign page."""
    return {
        "rate_text": percent,
        "int_text": lambda value: f"{value:,}",  # a Python call: a macro per cell cost ms
        "money_text": lambda minor: money(minor, g.shop.currency if g.get("shop") else None),
        "period_presets": PRESETS,
        "campaign_figures": lambda c: pages.campaign_figures(c.shop_id, c.id),
    }


def _invalid(template: str, exc: ValidationFailed, **context):
    """A page of field errors, 400: the merchant fixes the range and tries again."""
    return render(template, status=400, errors=exc.field_errors, args=request.args, **context)


@bp.get("")
def index():
    try:
        page = pages.report_list(g.shop, request.args)
    except ValidationFailed as exc:
        return _invalid("reports/index.html", exc, page=None, sorts=sources.SORTS)
    return render(
        "reports/index.html",
        page=page,
        errors={},
        args=request.args,
        sorts=sources.SORTS,
        kinds=sources.KINDS,
    )


@bp.get("/export.csv")
def export_csv():
    try:
        period = pages.period_of(g.shop, request.args)
        sort, descending, kind = pages.parse_list(request.args)
    except ValidationFailed as exc:
        return _invalid("reports/index.html", exc, page=None, sorts=sources.SORTS)
    body = export.rows(g.shop, period, sort, descending, kind)
    name = f"astronote-report-{period.start}-{period.end}.csv"
    return csv_download(body, name)


def _source(kind: str, source_id: int):
    try:
        page = pages.source_report(g.shop, kind, source_id, request.args)
    except ValidationFailed as exc:
        return _invalid("reports/show.html", exc, page=None, kind=kind, source_id=source_id)
    return render("reports/show.html", page=page, errors={}, args=request.args, kind=kind)


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    return _source("campaign", campaign_id)


@bp.get("/flows/<int:automation_id>")
def flow(automation_id: int):
    return _source("flow", automation_id)
