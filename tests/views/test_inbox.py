"""Inbox: conversations with unread counts, merged threads, read marks, replies through the
simulator, and tenancy."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from astronote.models import Contact, InboundMessage, Message, ShopSenderNumber, now_utc
from astronote.services import credits
from astronote.services.messaging import inbox
from astronote.services.sending import quiet_hours
from astronote.views import NAV_ITEMS
from tests.conftest import bearer
from tests.sending import conftest as sending

# The sending fixtures (simulator, funded shop, subscribers), shared with this module.
mitto_sim, sim, funded, subscribers = (
    sending.mitto_sim,
    sending.sim,
    sending.funded,
    sending.subscribers,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def inbound_webhook(client, text, frm, to="+14155550000", message_id=None):
    payload = {"from": frm, "to": to, "text": text}
    if message_id:
        payload["messageId"] = message_id
    return client.post("/webhooks/mitto/inbound", json=payload)


def contact(db, shop, phone, consent="subscribed", first=None) -> Contact:
    row = Contact(shop_id=shop.id, phone=phone, consent_state=consent, first_name=first)
    db.session.add(row)
    db.session.commit()
    return row


def received(db, shop, who, text, at, read_at=None, keyword=None) -> InboundMessage:
    row = InboundMessage(
        shop_id=shop.id,
        contact_id=who.id if who else None,
        from_number=who.phone if who else "+19998887777",
        to_number="+14155550000",
        text=text,
        keyword=keyword,
        routed_by="number",
        payload="{}",
        received_at=at,
        read_at=read_at,
    )
    db.session.add(row)
    db.session.commit()
    return row


def sent(db, shop, who, body, at, kind="campaign", status="delivered", sent_at=True) -> Message:
    row = Message(
        shop_id=shop.id,
        contact_id=who.id,
        kind=kind,
        phone=who.phone,
        body=body,
        status=status,
        created_at=at,
        sent_at=at if sent_at else None,
    )
    db.session.add(row)
    db.session.commit()
    return row


def body_of(response) -> str:
    return response.get_data(as_text=True)


def order_in(body: str, *texts: str) -> list[int]:
    return [body.index(t) for t in texts]


def unread_of(db, contact_id) -> int:
    db.session.expire_all()
    return db.session.execute(
        select(func.count())
        .select_from(InboundMessage)
        .where(InboundMessage.contact_id == contact_id, InboundMessage.read_at.is_(None))
    ).scalar_one()


@pytest.fixture
def people(db, shop):
    ann = contact(db, shop, "+12015550101", first="Ann")
    bob = contact(db, shop, "+12015550102", first="Bob")
    cid = contact(db, shop, "+12015550103", first="Cid")
    return ann, bob, cid


# --------------------------------------------------------------------------- list


def test_list_shows_conversations_newest_first_with_unread_counts(
    client, doc_auth, db, shop, people
):
    ann, bob, cid = people
    received(db, shop, ann, "Ann old", T0, read_at=T0)
    received(db, shop, ann, "Ann new", T0 + timedelta(minutes=30))
    received(db, shop, bob, "Bob one", T0 + timedelta(hours=1))
    received(db, shop, bob, "Bob two", T0 + timedelta(hours=2))
    received(db, shop, cid, "Cid read", T0 + timedelta(minutes=10), read_at=T0)
    received(db, shop, None, "From a stranger", T0 + timedelta(hours=3))  # no contact
    contact(db, shop, "+12015550109", first="Quiet")  # never wrote: not a conversation

    response = client.get("/inbox", headers=doc_auth)
    body = body_of(response)
    assert response.status_code == 200 and "<html" in body
    rows = re.findall(r'<tr class="([^"]*)" data-contact="(\d+)">', body)
    assert [int(cid_) for _, cid_ in rows] == [bob.id, ann.id, cid.id]
    assert [cls for cls, _ in rows] == ["is-unread", "is-unread", ""]
    assert re.findall(r'unread-count"[^>]*>(\d+) unread', body) == ["2", "1"]
    assert 'data-unread="3"' in body
    assert "Bob two" in body and "Bob one" not in body  # the latest message only
    assert "Quiet" not in body and "From a stranger" not in body
    assert inbox.unread_total(shop) == 3
    # the nav offers the inbox between Campaigns and Settings
    nav = re.findall(r'<s-link href="/(\w+)/?"', body)  # embedded: App Bridge's nav menu
    assert len(nav) == len(NAV_ITEMS) and "inbox" in nav
    assert nav.index("campaigns") < nav.index("inbox") < nav.index("settings")


def test_latest_message_may_be_ours(client, doc_auth, db, shop, people):
    ann, bob, _ = people
    received(db, shop, ann, "Do you ship to Crete?", T0)
    sent(db, shop, ann, "Yes we do!", T0 + timedelta(minutes=5), kind="reply")
    received(db, shop, bob, "Thanks", T0 + timedelta(minutes=1))
    sent(db, shop, bob, "Old campaign", T0 - timedelta(days=1))
    page = inbox.conversations(shop)
    by_id = {c.contact.id: c for c in page.conversations}
    assert [c.contact.id for c in page.conversations] == [bob.id, ann.id]  # by inbound time
    assert by_id[ann.id].last_outbound and by_id[ann.id].last_text == "Yes we do!"
    assert by_id[ann.id].last_at == T0 + timedelta(minutes=5)
    assert by_id[ann.id].last_inbound_at == T0
    assert not by_id[bob.id].last_outbound and by_id[bob.id].last_text == "Thanks"
    body = body_of(client.get("/inbox", headers=doc_auth))
    assert "You:</span> Yes we do!" in body


def test_list_pages_by_keyset_through_ties(client, doc_auth, db, shop):
    people = [contact(db, shop, f"+1201555{1000 + i:04d}") for i in range(35)]
    for i, who in enumerate(people):
        # pairs share a timestamp: the contact id breaks the tie
        received(db, shop, who, f"msg {i}", T0 + timedelta(minutes=i // 2))
    seen, cursor, pages = [], None, 0
    while True:
        page = inbox.conversations(shop, after=cursor, limit=4)
        seen += [c.contact.id for c in page.conversations]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = [
        c.id for c in sorted(people, key=lambda c: (people.index(c) // 2, c.id), reverse=True)
    ]
    assert seen == expected and pages == 9

    first = client.get("/inbox", headers=doc_auth)
    assert body_of(first).count("data-contact=") == 30
    after = re.search(r'href="/inbox\?after=([0-9_]+)"', body_of(first)).group(1)
    second = client.get(f"/inbox?after={after}", headers={**doc_auth, "HX-Request": "true"})
    body = body_of(second)
    assert "<html" not in body and body.count("data-contact=") == 5
    assert 'hx-trigger="every 10s"' not in body  # only the first page refreshes itself
    for junk in ("x", "1_", "_1", "99999999999999999999_1", "9999999999999999999_1", "-5_3"):
        response = client.get(f"/inbox?after={junk}", headers=doc_auth)
        assert response.status_code == 200  # a bad cursor is the first page


def test_list_costs_the_same_number_of_queries_for_5_or_30_conversations(app, db, shop, make_shop):
    def queries_for(target, n):
        people = [contact(db, target, f"+1201556{1000 + i:04d}") for i in range(n)]
        for i, who in enumerate(people):
            received(db, target, who, "hi", T0 + timedelta(minutes=i))
            sent(db, target, who, "yo", T0 + timedelta(minutes=i, seconds=30), kind="reply")
        assert target.timezone  # load the (expired) shop outside the count
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page = inbox.conversations(target, limit=30)
            inbox.unread_total(target)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert len(page.conversations) == n
        return len(statements)

    assert queries_for(shop, 5) == queries_for(make_shop("beta.myshopify.com"), 30) <= 5


# --------------------------------------------------------------------------- thread


def test_thread_merges_inbound_and_outbound_in_time_order(client, doc_auth, db, shop, people):
    ann, bob, _ = people
    sent(db, shop, ann, "Spring sale!", T0, kind="campaign")
    received(db, shop, ann, "Is it on shoes?", T0 + timedelta(minutes=1))
    sent(db, shop, ann, "Test copy", T0 - timedelta(days=1), kind="test")
    sent(db, shop, ann, "Yes, all shoes", T0 + timedelta(minutes=2), kind="reply")
    received(db, shop, ann, "HELP", T0 + timedelta(minutes=3), keyword="HELP")
    sent(db, shop, ann, "Alpha: help text", T0 + timedelta(minutes=3), kind="kw:HELP")
    sent(db, shop, ann, "Queued one", T0 + timedelta(minutes=4), status="queued", sent_at=False)
    received(db, shop, bob, "Bob's secret", T0 + timedelta(minutes=2))

    response = client.get(f"/inbox/{ann.id}", headers=doc_auth)
    body = body_of(response)
    assert response.status_code == 200 and "<html" in body
    texts = (
        "Test copy",
        "Spring sale!",
        "Is it on shoes?",
        "Yes, all shoes",
        "HELP",
        "Alpha: help text",
        "Queued one",
    )
    positions = order_in(body.split('id="thread"')[1], *texts)
    assert positions == sorted(positions)
    assert "Bob&#39;s secret" not in body and "Bob's secret" not in body
    assert "Keyword HELP" in body and "Automatic reply" in body and "Sending…" in body
    assert re.search(rf'hx-get="/inbox/{ann.id}/thread\?v=\w+" hx-trigger="every 5s"', body)
    # the service says the same, with inbound before outbound on a tie
    page = inbox.thread(shop, ann)
    assert [i.text for i in page.items] == list(texts)
    assert [i.inbound for i in page.items] == [False, False, True, False, True, False, False]


def test_thread_pages_back_in_time(client, doc_auth, db, shop, people):
    ann = people[0]
    for i in range(7):
        received(db, shop, ann, f"in {i}", T0 + timedelta(minutes=i))
        sent(db, shop, ann, f"out {i}", T0 + timedelta(minutes=i), kind="reply")
    collected, cursor = [], None
    while True:
        page = inbox.thread(shop, ann, before=cursor, limit=3)
        collected = [i.text for i in page.items] + collected
        cursor = page.older_cursor
        if cursor is None:
            break
    assert collected == [t for i in range(7) for t in (f"in {i}", f"out {i}")]

    newest = client.get(f"/inbox/{ann.id}", headers=doc_auth)
    assert "Older messages" not in body_of(newest)  # 14 messages fit in one page of 50
    page = inbox.thread(shop, ann, limit=4)
    older = client.get(f"/inbox/{ann.id}?before={page.older_cursor}", headers=doc_auth)
    body = body_of(older)
    assert "out 4" in body and "in 5" not in body
    assert "Back to the latest messages" in body and 'hx-trigger="every 5s"' not in body
    for junk in ("x", "1_0", "1_2_3", "9999999999999999999_0_1", "1_1_9999999999999999999"):
        response = client.get(f"/inbox/{ann.id}?before={junk}", headers=doc_auth)
        body = body_of(response)
        assert response.status_code == 200 and "in 6" in body  # the latest page, polling
        assert 'hx-trigger="every 5s"' in body and "Back to the latest" not in body


def test_opening_a_conversation_marks_it_read(client, doc_auth, db, shop, people):
    ann, bob, _ = people
    received(db, shop, ann, "one", T0)
    received(db, shop, ann, "two", T0 + timedelta(minutes=1))
    received(db, shop, bob, "bob", T0)
    assert unread_of(db, ann.id) == 2
    page = client.get(f"/inbox/{ann.id}", headers=doc_auth)
    assert page.status_code == 200
    assert unread_of(db, ann.id) == 2  # a GET never writes ...
    mark = f'hx-post="/inbox/{ann.id}/read" hx-trigger="load"'
    assert mark in body_of(page)  # ... the shown thread posts its read mark
    assert client.post(f"/inbox/{ann.id}/read", headers=doc_auth).status_code == 204
    assert unread_of(db, ann.id) == 0 and unread_of(db, bob.id) == 1
    assert inbox.unread_total(shop) == 1
    body = body_of(client.get("/inbox", headers=doc_auth))
    assert re.findall(r'unread-count"[^>]*>(\d+) unread', body) == ["1"]


def test_polling_answers_204_until_something_changes(client, auth, db, shop, people):
    ann = people[0]
    received(db, shop, ann, "first", T0)
    page = client.get(f"/inbox/{ann.id}", headers={**auth, "HX-Boosted": "true"})
    version = re.search(r'data-version="(\w+)"', body_of(page)).group(1)
    poll = f"/inbox/{ann.id}/thread?v={version}"
    assert client.get(poll, headers=auth).status_code == 204
    new = received(db, shop, ann, "are you there?", now_utc())
    response = client.get(poll, headers=auth)
    body = body_of(response)
    assert response.status_code == 200 and "<html" not in body
    assert "are you there?" in body and 'id="thread"' in body
    assert "hx-swap-oob" not in body
    assert f'hx-post="/inbox/{ann.id}/read"' in body  # the new thread marks itself read
    db.session.expire_all()
    assert db.session.get(InboundMessage, new.id).read_at is None  # the poll itself wrote nothing
    # a status change (queued -> delivered) is a change too
    version = re.search(r'data-version="(\w+)"', body).group(1)
    out = sent(db, shop, ann, "on its way", now_utc(), kind="reply", status="queued")
    version = re.search(
        r'data-version="(\w+)"', body_of(client.get(f"/inbox/{ann.id}/thread", headers=auth))
    ).group(1)
    out.status = "delivered"
    db.session.commit()
    changed = client.get(f"/inbox/{ann.id}/thread?v={version}", headers=auth)
    assert changed.status_code == 200 and "Delivered" in body_of(changed)


# --------------------------------------------------------------------------- replies


def test_reply_to_a_subscribed_contact_is_queued_and_sent(
    client, auth, db, sim, funded, subscribers
):
    phone = subscribers(1)[0]
    who = db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()
    received(db, funded, who, "Do you have size 42?", now_utc())
    before = credits.balance(funded.id).available
    response = client.post(f"/inbox/{who.id}/reply", data={"text": "Yes, in blue."}, headers=auth)
    body = body_of(response)
    assert response.status_code == 200, body
    assert json.loads(response.headers["HX-Trigger"])["astronote:toast"]["message"] == "Reply sent"
    assert [m["destination"] for m in sim.accepted] == [phone]
    assert sim.accepted[0]["text"] == "Yes, in blue.\nReply STOP to opt out"
    message = db.session.execute(select(Message).filter_by(contact_id=who.id)).scalar_one()
    assert (message.kind, message.status, message.campaign_id) == ("reply", "accepted", None)
    assert credits.balance(funded.id).available == before - message.segments
    # the form comes back empty, and the thread is swapped out of band with the reply in it
    assert 'id="reply-form"' in body and "Yes, in blue.</textarea>" not in body
    assert 'id="thread"' in body and 'hx-swap-oob="true"' in body
    assert body.index("Do you have size 42?") < body.index("Yes, in blue.")


def test_reply_end_to_end_from_an_inbound_webhook(client, auth, db, sim, funded, subscribers):
    phone = subscribers(1)[0]
    db.session.add(ShopSenderNumber(number="+14155550000", shop_id=funded.id))
    db.session.commit()
    assert inbound_webhook(client, "When do you open?", phone).json["routed_by"] == "number"
    assert inbox.unread_total(funded) == 1
    [conversation] = inbox.conversations(funded).conversations
    assert conversation.unread == 1 and conversation.last_text == "When do you open?"
    who = conversation.contact
    assert client.get(f"/inbox/{who.id}", headers=bearer(funded.shop_domain)).status_code == 200
    assert client.post(f"/inbox/{who.id}/read", headers=auth).status_code == 204
    assert inbox.unread_total(funded) == 0
    response = client.post(f"/inbox/{who.id}/reply", data={"text": "At 9."}, headers=auth)
    assert response.status_code == 200
    assert sim.sends_per_phone()[phone] == 1
    thread = inbox.thread(funded, who)
    assert [(i.inbound, i.text.split("\n")[0]) for i in thread.items] == [
        (True, "When do you open?"),
        (False, "At 9."),
    ]


def test_plain_form_reply_redirects_to_the_conversation(
    client, doc_auth, db, sim, funded, subscribers
):
    phone = subscribers(1)[0]
    who = db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()
    response = client.post(f"/inbox/{who.id}/reply", data={"text": "Hi"}, headers=doc_auth)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/inbox/{who.id}")
    assert sim.sends_per_phone()[phone] == 1


@pytest.mark.parametrize("consent", ["unsubscribed", "not_subscribed", "pending"])
def test_reply_to_a_contact_who_may_not_receive_messages_is_a_422_field_error(
    client, auth, db, sim, funded, consent
):
    who = contact(db, funded, "+12015550150", consent=consent, first="Una")
    received(db, funded, who, "hello", T0)
    response = client.post(f"/inbox/{who.id}/reply", data={"text": "Hi Una"}, headers=auth)
    body = body_of(response)
    assert response.status_code == 422
    assert 'class="field-error" id="e-text"' in body
    assert "Una cannot receive messages" in body and consent.replace("_", " ") in body
    assert "Hi Una</textarea>" in body  # what was typed is kept
    assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == 0
    assert sim.accepted == []
    page = client.get(f"/inbox/{who.id}", headers=bearer(funded.shop_domain))
    assert re.search(r'type="submit" disabled>Send reply', body_of(page))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Write a reply first."),
        ("   ", "Write a reply first."),
        ("x" * 1601, "at most 1,600 characters"),
        ("Your order {{order_id}} shipped", "Unknown placeholder: {{order_id}}"),
    ],
)
def test_reply_text_is_validated(client, auth, db, sim, funded, subscribers, text, message):
    phone = subscribers(1)[0]
    who = db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()
    response = client.post(f"/inbox/{who.id}/reply", data={"text": text}, headers=auth)
    assert response.status_code == 422 and message in body_of(response)
    assert sim.accepted == []


def test_reply_without_credits_is_a_field_error(client, auth, db, shop, sim):
    who = contact(db, shop, "+12015550151")
    response = client.post(f"/inbox/{who.id}/reply", data={"text": "Hi"}, headers=auth)
    assert response.status_code == 422 and "Buy more credits" in body_of(response)
    assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == 0
    assert sim.accepted == []


def test_a_reply_is_conversational_not_capped_or_deferred(
    client, auth, db, sim, funded, subscribers
):
    """Someone who just texted gets the answer now: no frequency cap, no quiet hours."""
    phone = subscribers(1)[0]
    who = db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()
    [zone] = quiet_hours.zones_for(phone, funded.timezone)
    local = now_utc().astimezone(ZoneInfo(zone))
    funded.frequency_cap_hours = 16
    funded.quiet_start = (local + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    funded.quiet_end = (local + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    db.session.commit()
    sent(db, funded, who, "Sale!", now_utc() - timedelta(hours=1), status="accepted")
    received(db, funded, who, "Is it on boots?", now_utc())
    response = client.post(f"/inbox/{who.id}/reply", data={"text": "Yes"}, headers=auth)
    assert response.status_code == 200
    reply = db.session.execute(select(Message).filter_by(kind="reply")).scalar_one()
    assert (reply.status, reply.skip_reason, reply.not_before) == ("accepted", None, None)
    assert sim.sends_per_phone()[phone] == 1


# --------------------------------------------------------------------------- tenancy


def test_another_shops_contact_is_404_everywhere(client, db, shop, make_shop, sim, people):
    ann = people[0]
    received(db, shop, ann, "private words", T0)
    other = make_shop("beta.myshopify.com")
    credits.grant(other.id, 100, "grant", "test")
    db.session.commit()
    b = bearer(other.shop_domain)
    b_htmx = {**b, "HX-Request": "true"}
    for method, path in (
        ("GET", f"/inbox/{ann.id}"),
        ("GET", f"/inbox/{ann.id}/thread"),
        ("POST", f"/inbox/{ann.id}/reply"),
    ):
        for headers in (b, b_htmx):
            response = client.open(path, method=method, headers=headers, data={"text": "pwn"})
            assert response.status_code == 404, (method, path)
            assert "private words" not in body_of(response)
    assert unread_of(db, ann.id) == 1  # not marked read by the other shop
    assert sim.accepted == []
    listing = body_of(client.get("/inbox", headers=b))
    assert "private words" not in listing and ann.phone not in listing
    assert inbox.unread_total(other) == 0


def test_inbox_requires_a_session(client, db, shop, people):
    for path in ("/inbox", f"/inbox/{people[0].id}", f"/inbox/{people[0].id}/thread"):
        assert client.get(path).status_code == 401
    assert client.post(f"/inbox/{people[0].id}/reply", data={"text": "x"}).status_code == 401
