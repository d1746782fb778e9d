"""CSV import pages: upload, a self-polling progress bar, and the error report."""

from __future__ import annotations

import io

from flask import Blueprint, current_app, g, request, url_for

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.htmx import STOP_POLLING, redirect_to, render
from astronote.models import ImportStatus
from astronote.services.contacts import csv_import as contact_import
from astronote.services.contacts.csv_reading import COLUMN_ALIASES, ENCODINGS
from astronote.services.contacts.export import import_error_lines
from astronote.tasks import enqueue_safely
from astronote.tasks.imports import import_contacts
from astronote.views.streaming import csv_download
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("imports", __name__, url_prefix="/contacts/imports")
ATTESTATION_REQUIRED = "Confirm that subscribed contacts agreed to receive SMS marketing."
bp.before_request(load_shop)


def _upload_page(errors=None, status=200):
    return render(
        "imports/new.html",
        partial="imports/_form.html",
        status=status,
        errors=errors or {},
        encodings=ENCODINGS,
        columns=COLUMN_ALIASES,
        imports=contact_import.recent_imports(g.shop),
        max_mb=current_app.config["IMPORT_MAX_MB"],
    )


@bp.get("/new")
def new():
    return _upload_page()


@bp.post("")
def create():
    upload = request.files.get("file")
    try:
        if not request.form.get("consent_attested"):
            raise ValidationFailed({"consent_attested": ATTESTATION_REQUIRED})
        with unit_of_work():
            job = contact_import.store_upload(
                g.shop,
                upload.stream if upload else io.BytesIO(),
                upload.filename if upload else "",
                request.form.get("encoding", "utf-8"),
                current_app.config["MAX_CONTENT_LENGTH"],
            )
    except ValidationFailed as exc:
        return _upload_page(errors=exc.field_errors, status=422)
    enqueue_safely(import_contacts, job.id)  # only after the commit made the upload visible
    return redirect_to(url_for("imports.show", import_id=job.id))


@bp.get("/<int:import_id>")
def show(import_id: int):
    job = contact_import.get_import(g.shop, import_id)
    return render("imports/show.html", job=job, error_total=contact_import.error_total(job))


@bp.get("/<int:import_id>/progress")
def progress(import_id: int):
    job = contact_import.get_import(g.shop, import_id)
    finished = ImportStatus(job.status).is_final
    return render(
        "imports/_progress.html",
        status=STOP_POLLING if finished else 200,
        job=job,
        error_total=contact_import.error_total(job) if finished else job.error_count,
    )


@bp.get("/<int:import_id>/errors.csv")
def errors_csv(import_id: int):
    job = contact_import.get_import(g.shop, import_id)
    return csv_download(import_error_lines(job), f"import-{job.id}-errors.csv")
