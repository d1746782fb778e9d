"""Streamed downloads: the body runs inside the request's context, and fails loudly.

A streamed body is produced after the view has returned and the access log has
recorded 200, so without this a failure in it would be invisible in our logs
(and, outside the request's context, every database call in it would fail).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from flask import Response, request, stream_with_context

from astronote.logging import log_context

log = logging.getLogger("astronote.streaming")


def _guarded(body: Iterable[str], where: str, context: dict) -> Iterator[str]:
    try:
        yield from body
    except GeneratorExit:
        raise  # the client went away: not a failure of ours
    except BaseException:
        token = log_context.set(context)  # the request id, though the request has returned
        try:
            log.exception("streamed response %s failed after its headers were sent", where)
        finally:
            log_context.reset(token)
        raise  # the server then cuts the connection: the client sees a truncated download


def csv_download(body: Iterable[str], filename: str) -> Response:
    """A CSV attachment whose rows are produced lazily, inside the request's context."""
    where = f"{request.method} {request.path}"
    stream = stream_with_context(_guarded(body, where, log_context.get()))
    return Response(
        stream,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
