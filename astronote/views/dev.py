"""Development-only sign-in that stands in for App Bridge on a loopback browser.

Never registered outside ASTRONOTE_ENV=development, and refuses any client
that is not on this machine even there. Its POSTs are refused from other origins:
a page on any site could otherwise sign the developer's browser in or out.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

from astronote.auth import dev_signin_allowed
from astronote.extensions import db
from astronote.models import Shop
from astronote.security import same_origin
from astronote.services.shopify import shops

bp = Blueprint("dev", __name__, url_prefix="/dev")
SAFE_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")


@bp.before_request
def _loopback_only():
    if not dev_signin_allowed():
        abort(404)
    if request.method == "POST" and not same_origin():
        abort(403, "This sign-in form was posted from another site.")


def _safe_next(target: str | None) -> str:
    """Only a plain local path: browsers ignore tabs and backslashes, so refuse them."""
    if not target or not SAFE_PATH.fullmatch(target) or target.startswith("//"):
        return "/"
    return target


@bp.get("/sign-in")
def sign_in():
    return render_template(
        "dev/sign_in.html", shops=shops.active_shops(), next=_safe_next(request.args.get("next"))
    )


@bp.post("/sign-in")
def sign_in_post():
    shop = db.session.get(Shop, request.form.get("shop_id", type=int) or 0)
    if shop is None or not shop.is_active:
        abort(400, "Choose a shop to sign in to.")
    session["dev_shop_id"] = shop.id
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.post("/sign-out")
def sign_out():
    session.pop("dev_shop_id", None)
    return redirect(url_for("dev.sign_in"), 303)
