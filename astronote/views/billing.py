"""Billing pages."""

from __future__ import annotations

from flask import Blueprint

from astronote.auth import load_shop

bp = Blueprint("billing", __name__, url_prefix="/billing")
bp.before_request(load_shop)


@bp.get("/")
def index():
    return "Billing", 200
