"""Inbox: conversations with unread counts, one thread per contact, merchant replies."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, g, make_response, request, url_for

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.extensions import db, htmx
from astronote.htmx import redirect_to, render, toast
from astronote.models import MessageStatus
from astronote.services.contacts import editing as contacts
from astronote.services.messaging import inbox
from astronote.services.messaging.rendering import opt_out_text
from astronote.tasks import enqueue_safely
from astronote.tasks.campaigns import send_single
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
bp.before_request(load_shop)


@bp.context_processor
def _shop_zone():
    """Times are shown in the shop's time zone."""
    try:
        return {"tz": ZoneInfo(g.shop.timezone)}
    except (ZoneInfoNotFoundError, ValueError, AttributeError):
        return {"tz": UTC}


@bp.get("")
def index():
    after = request.args.get("after") or None
    return render(
        "inbox/index.html",
        partial="inbox/_list.html",
        page=inbox.conversations(g.shop, after=after),
        after=after,
        unread_total=inbox.unread_total(g.shop),
    )


def _conversation(contact, partial=None, status=200, before=None, form=None, errors=None):
    """The conversation page; for an htmx reply, the form with the thread swapped out of band."""
    allowed = inbox.can_reply(contact)
    return render(
        "inbox/show.html",
        partial=partial,
        status=status,
        contact=contact,
        page=inbox.thread(g.shop, contact, before=before),
        form=form or {},
        errors=errors or {},
        can_reply=allowed,
        refusal=None if allowed else inbox.refusal(contact),
        opt_out=opt_out_text(g.shop, contact.id),
        oob=partial is not None,
    )


@bp.get("/<int:contact_id>")
def show(contact_id: int):
    contact = contacts.get_contact(g.shop, contact_id)
    return _conversation(contact, before=request.args.get("before") or None)


@bp.get("/<int:contact_id>/thread")
def thread(contact_id: int):
    """Polled every 5 s while the conversation is open: 204 when nothing changed."""
    contact = contacts.get_contact(g.shop, contact_id)
    page = inbox.thread(g.shop, contact)
    if page.version == request.args.get("v"):
        return make_response("", 204)
    return render("inbox/_thread.html", contact=contact, page=page, oob=False)


@bp.post("/<int:contact_id>/read")
def mark_read(contact_id: int):
    """The thread, once shown, posts here (a GET never writes): its replies are read."""
    with unit_of_work():
        inbox.mark_read(g.shop, contacts.get_contact(g.shop, contact_id))
    return make_response("", 204)


def _outcome(message) -> tuple[str, bool]:
    """The toast after a reply: what happened to it so far (the send may still be queued)."""
    status = message.status
    if status in (MessageStatus.ACCEPTED, MessageStatus.DELIVERED):
        return "Reply sent", False
    if status == MessageStatus.SKIPPED:
        reason = (message.skip_reason or "skipped").replace("_", " ")
        return f"Reply not sent ({reason})", True
    if status in (MessageStatus.FAILED, MessageStatus.UNKNOWN):
        return f"Reply {status}: {message.error or 'see the conversation'}", True
    if message.not_before is not None:
        return "Reply queued until the recipient's quiet hours end", False
    return "Reply queued", False


@bp.post("/<int:contact_id>/reply")
def reply(contact_id: int):
    contact = contacts.get_contact(g.shop, contact_id)
    try:
        with unit_of_work():
            message = inbox.reply(g.shop, contact, request.form.get("text"))
    except ValidationFailed as exc:
        contact = contacts.get_contact(g.shop, contact_id)
        return _conversation(
            contact,
            partial="inbox/_reply.html",
            status=422,
            form=request.form,
            errors=exc.field_errors,
        )
    enqueue_safely(send_single, message.id)
    if not htmx or htmx.boosted:
        return redirect_to(url_for("inbox.show", contact_id=contact.id))
    db.session.expire_all()  # the worker (or, in tests, the immediate queue) moved it on
    text, is_error = _outcome(message)
    return toast(_conversation(contact, partial="inbox/_reply.html"), text, is_error=is_error)
