"""Automations pages."""

from __future__ import annotations

from flask import Blueprint

from astronote.auth import load_shop

bp = Blueprint("automations", __name__, url_prefix="/automations")
bp.before_request(load_shop)


@bp.get("/")
def index():
    return "Automations", 200
