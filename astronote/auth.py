"""`load_shop`, every admin blueprint's before-request hook: the shop comes from a
verified session token, and nowhere else.

Data requests (htmx, fetch) carry `Authorization: Bearer <id token>`; document
loads carry `?id_token=` or are bounced to a page where App Bridge mints one. The
first verified token of an unknown shop installs it (token exchange), the one write
a document load may make. Development alone adds a loopback-only sign-in that stands
in for App Bridge.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlencode

from flask import current_app, g, redirect, render_template, request, session, url_for

from astronote import logging as applog
from astronote.extensions import db
from astronote.integrations.shopify.oauth import ShopifyAuthError, ShopifyRetryableError
from astronote.integrations.shopify.session_tokens import (
    InvalidSessionToken,
    decode_session_token,
    is_shop_domain,
)
from astronote.services.shopify import shops

RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def dev_signin_allowed() -> bool:
    """True only in development and only for a browser on this machine.

    A tunnel (ngrok, cloudflared) also connects from loopback, so the Host must
    be a loopback name too and no proxy may have forwarded the request.
    """
    host = request.host.lower()
    host = host if host.startswith("[") else host.rsplit(":", 1)[0]
    return (
        current_app.config["ASTRONOTE_ENV"] == "development"
        and is_loopback(request.remote_addr)
        and (host in LOOPBACK_HOSTS or host.startswith("[::1]"))
        and "X-Forwarded-For" not in request.headers
        and "Forwarded" not in request.headers
    )


def _verify(token: str):
    config = current_app.config
    secrets = [config["SHOPIFY_API_SECRET"], config["SHOPIFY_API_SECRET_OLD"]]
    return decode_session_token(token, config["SHOPIFY_API_KEY"], secrets)


def _reject_data_request(reason: str):
    applog.bind(auth_error=reason)
    response = current_app.response_class(
        "Your Shopify session expired. Reload the page.", status=401, mimetype="text/plain"
    )
    response.headers[RETRY_HEADER] = "1"
    return response


def _bounce_or_refuse():
    """No usable credential on a document load."""
    shop = request.args.get("shop", "")
    if is_shop_domain(shop):
        query = {k: v for k, v in request.args.items() if k != "id_token"}
        query["shopify-reload"] = request.full_path.rstrip("?")
        return redirect(url_for("home.patch_id_token") + "?" + urlencode(query))
    if dev_signin_allowed():
        return redirect(url_for("dev.sign_in", next=request.full_path.rstrip("?")))
    return render_template("errors/open_from_admin.html"), 401


def load_shop():
    """Blueprint `before_request`: set g.shop or answer with 401 / a bounce."""
    header = request.headers.get("Authorization", "")
    if header:
        if not header.startswith("Bearer "):
            return _reject_data_request("malformed Authorization header")
        try:
            g.session_token = _verify(header.removeprefix("Bearer ").strip())
        except InvalidSessionToken as exc:
            return _reject_data_request(str(exc))
    elif request.args.get("id_token"):
        try:
            g.session_token = _verify(request.args["id_token"])
        except InvalidSessionToken:
            return _bounce_or_refuse()
    elif dev_signin_allowed() and session.get("dev_shop_id"):
        g.shop = shops.get_active(session["dev_shop_id"])
        if g.shop is None:
            session.pop("dev_shop_id", None)
            return _bounce_or_refuse()
    else:
        return _bounce_or_refuse()
    if g.get("session_token") is not None:
        failure = _install_if_needed(g.session_token)
        if failure is not None:
            return failure
    applog.bind(shop=g.shop.shop_domain)
    return None


def _install_if_needed(shop_session):
    """Token exchange on first use (or after an uninstall); then start the customer sync."""
    try:
        g.shop, installed = shops.install(shop_session)
    except ShopifyAuthError:
        return _reject_data_request("Shopify refused the token exchange")
    except ShopifyRetryableError:
        return current_app.response_class(
            "Shopify is not answering; try again in a moment.", status=503, mimetype="text/plain"
        )
    if installed:
        db.session.commit()
        logging.getLogger("astronote.install").info("installed %s", g.shop.shop_domain)
        from astronote.tasks.shopify import start_customer_sync

        start_customer_sync(g.shop.id)
    return None
