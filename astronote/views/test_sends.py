"""The "Send a test" card's answer, shared by the campaign composer and the flow editor."""

from __future__ import annotations

from collections.abc import Callable

from flask import request

from astronote.errors import ValidationFailed
from astronote.htmx import render
from astronote.models import Message
from astronote.services.credits import InsufficientCredits
from astronote.tasks import enqueue_safely
from astronote.tasks.campaigns import send_single
from astronote.views.unit_of_work import unit_of_work


def test_send_reply(queue: Callable[[], Message], test_url: str):
    """Run `queue` (it reserves one test message) in a unit of work, send after commit."""
    context = {"form": request.form, "test_url": test_url}
    try:
        with unit_of_work():
            message = queue()
    except (ValidationFailed, InsufficientCredits) as exc:
        errors = getattr(exc, "field_errors", None) or {"test_phone": exc.message}
        return render("campaigns/_test_send.html", status=exc.status, errors=errors, **context)
    enqueue_safely(send_single, message.id)
    segments = f"{message.segments} segment" + ("" if message.segments == 1 else "s")
    sent = f"Test message on its way to {message.phone} ({segments})."
    return render("campaigns/_test_send.html", errors={}, sent=sent, **context)
