"""gunicorn target of bench/links.py: the app as wsgi.py builds it, plus two baselines.

- `/bare/<code>`: a Flask route in the same app answering the same 302 as `/l/<code>`
  (same Location length, same headers, same hooks and access log) without doing any
  of the link work. The ratio against it is the cost of the links code itself.
- `/raw/<code>`: the same answer from a WSGI wrapper in front of Flask, for context:
  how much of a request is the framework and the server, which no endpoint avoids.
"""

from __future__ import annotations

import os

from flask import Response

from astronote.views.links import HEADERS
from wsgi import app

LOCATION = os.environ["BENCH_BARE_LOCATION"]
RAW_HEADERS = [("Location", LOCATION), *HEADERS.items(), ("Content-Length", "0")]


@app.route("/bare/<code>", methods=["GET", "HEAD"])
def bare(code: str):
    return Response(status=302, headers={"Location": LOCATION, **HEADERS})


flask_app = app.wsgi_app


def _raw_or_app(environ, start_response):
    if environ.get("PATH_INFO", "").startswith("/raw/"):
        start_response("302 FOUND", RAW_HEADERS)
        return [b""]
    return flask_app(environ, start_response)


app.wsgi_app = _raw_or_app
