"""The public short-link redirect, /l/<code>: a fast 302, or a friendly 404.

Visitors are the shop's customers, not the merchant: no session, no app layout.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from astronote.services import links
from astronote.services.links import redirect

bp = Blueprint("links", __name__)
# Every click must reach us (a cached redirect is an uncounted click); never indexed.
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


@bp.route("/l/<code>", methods=["GET", "HEAD"])
def follow(code: str):
    agent = request.headers.get("User-Agent")
    try:
        hit = redirect.follow(code, request.method, agent, request.headers)
    except redirect.Unavailable:
        page = render_template("links/not_found.html", unavailable=True)
        return page, 503, {**HEADERS, "Retry-After": "30"}
    if hit is None:
        return render_template("links/not_found.html"), 404, HEADERS
    return Response(status=302, headers={"Location": hit.location, **HEADERS})


@bp.app_template_global("short_link_sample")
def short_link_sample() -> str:
    """A short link as long as the next send's, for the composer's live counter."""
    return links.representative_link()
