"""Storefront contact-form submissions: the list (newest first, keyset pages) and its CSV."""

from __future__ import annotations

from flask import Blueprint, g, request

from astronote.auth import load_shop
from astronote.htmx import render
from astronote.services.messaging import submissions
from astronote.views.paging import after_cursor
from astronote.views.streaming import csv_download
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("submissions", __name__, url_prefix="/submissions")
bp.before_request(load_shop)


@bp.get("")
def index():
    after = after_cursor()
    return render(
        "submissions/index.html",
        partial="submissions/_table.html",
        page=submissions.list_page(g.shop, after_id=after),
        after=after,
    )


@bp.get("/export.csv")
def export():
    return csv_download(submissions.export_lines(g.shop), "contact-form-submissions.csv")


@bp.post("/<int:submission_id>/handled")
def mark_handled(submission_id: int):
    handled = request.form.get("handled", "yes") == "yes"
    with unit_of_work():
        row = submissions.set_handled(g.shop, submission_id, handled)
    return render("submissions/_row.html", s=row)
