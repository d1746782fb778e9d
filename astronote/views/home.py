"""App home: the dashboard for a period (getting started for a new shop), and the App
Bridge session-token bounce page."""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request, send_from_directory

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.htmx import render
from astronote.integrations.shopify.session_tokens import is_shop_domain
from astronote.services.contacts import csv_import as contact_import
from astronote.services.reports import pages

bp = Blueprint("home", __name__)


@bp.get("/auth/patch-id-token")
def patch_id_token():
    """App Bridge mints a fresh id_token here and reloads `shopify-reload` with it."""
    response = current_app.make_response(
        render_template("auth/patch_id_token.html", api_key=current_app.config["SHOPIFY_API_KEY"])
    )
    shop = request.args.get("shop", "")
    ancestors = f"https://{shop} https://admin.shopify.com" if is_shop_domain(shop) else "'none'"
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors};"
    return response


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page links; answer it from static/."""
    response = send_from_directory(current_app.static_folder, "favicon.ico", max_age=86400)
    response.mimetype = "image/x-icon"
    return response


@bp.get("/")
def index():
    failure = load_shop()
    if failure is not None:
        return failure
    imports = contact_import.recent_imports(g.shop, limit=3)
    try:
        page = pages.dashboard(g.shop, request.args)
    except ValidationFailed as exc:
        page = pages.dashboard(g.shop, {})  # the default period; the form shows the errors
        return render(
            "home/index.html", status=400, page=page, errors=exc.field_errors, imports=imports
        )
    return render("home/index.html", page=page, errors={}, imports=imports)
