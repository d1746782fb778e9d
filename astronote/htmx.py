"""One render helper: the named partial for htmx requests, the full page otherwise."""

from __future__ import annotations

import json

from flask import make_response, render_template

from astronote.extensions import htmx

STOP_POLLING = 286  # htmx stops a polling trigger when it sees this status


def render(template: str, partial: str | None = None, status: int = 200, **context):
    name = partial if (partial and htmx and not htmx.boosted) else template
    return make_response(render_template(name, **context), status)


def toast(response, message: str, is_error: bool = False):
    """Ask the page (App Bridge toast, or the fallback banner) to show a message."""
    response.headers["HX-Trigger"] = json.dumps(
        {"astronote:toast": {"message": message, "isError": is_error}}
    )
    return response


def redirect_to(url: str):
    """Redirect that survives htmx: a 302 would lose the session token on the way."""
    from flask import redirect

    if htmx:
        response = make_response("", 204)
        # HX-Boosted asks `render` for the whole page; only its <main> is swapped in.
        response.headers["HX-Location"] = json.dumps(
            {
                "path": url,
                "target": "#main",
                "select": "#main",
                "swap": "outerHTML",
                "headers": {"HX-Boosted": "true"},
            }
        )
        return response
    return redirect(url, 303)
