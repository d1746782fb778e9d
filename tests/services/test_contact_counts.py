"""Per-shop consent counters must always equal COUNT(*) ... GROUP BY consent_state.

The list header reads the counters instead of counting a million rows, so any
write path that forgets to adjust them shows merchants wrong totals.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select, update

from astronote.errors import ValidationFailed
from astronote.models import ConsentState, Contact, ShopContactCount
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts import editing as contacts
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch

STATES = [state.value for state in ConsentState]


def real_counts(db, shop_id: int) -> dict[str, int]:
    grouped = dict(
        db.session.execute(
            select(Contact.consent_state, func.count())
            .where(Contact.shop_id == shop_id)
            .group_by(Contact.consent_state)
        ).all()
    )
    counts = {state: grouped.get(state, 0) for state in STATES}
    counts["all"] = sum(grouped.values())
    return counts


def assert_in_step(db, *shops):
    for shop in shops:
        assert contact_counts.totals(shop.id) == real_counts(db, shop.id), shop.shop_domain


def phone(i: int) -> str:
    return f"+1415200{i:04d}"


def create(db, shop, i: int, consent: str):
    contact = contacts.create_contact(
        shop, contacts.ContactInput(phone=phone(i), consent_state=consent), "test"
    )
    db.session.commit()
    return contact


def change(db, shop, contact, consent: str, **profile):
    data = contacts.ContactInput(phone=contact.phone, consent_state=consent, **profile)
    contacts.update_contact(shop, contact, data, "test")
    db.session.commit()


def remove(db, shop, contact):
    contacts.delete_contact(shop, contact)
    db.session.commit()


def test_empty_shop_totals_are_zero(db, shop):
    assert contact_counts.totals(shop.id) == {**{s: 0 for s in STATES}, "all": 0}
    assert_in_step(db, shop)


def test_create_update_delete_keep_counters_in_step(db, shop, make_shop):
    other = make_shop("beta.myshopify.com")
    created = []
    for i, consent in enumerate(
        ["subscribed", "subscribed", "pending", "unsubscribed", "not_subscribed", "subscribed"]
    ):
        created.append(create(db, shop, i, consent))
        assert_in_step(db, shop, other)
    create(db, other, 0, "pending")  # same phone, other shop
    assert_in_step(db, shop, other)
    assert contact_counts.totals(shop.id)["subscribed"] == 3

    change(db, shop, created[0], "unsubscribed")
    assert_in_step(db, shop, other)
    change(db, shop, created[0], "unsubscribed", first_name="Same state")  # no-op for counts
    assert_in_step(db, shop, other)
    change(db, shop, created[2], "subscribed")
    assert_in_step(db, shop, other)

    remove(db, shop, created[0])  # deleted after its consent changed
    assert_in_step(db, shop, other)
    remove(db, shop, created[4])
    assert_in_step(db, shop, other)
    assert contact_counts.totals(shop.id)["all"] == 4
    assert contact_counts.totals(other.id)["all"] == 1


def test_failed_create_leaves_counters_alone(db, shop):
    create(db, shop, 1, "subscribed")
    with pytest.raises(ValidationFailed):
        contacts.create_contact(
            shop, contacts.ContactInput(phone=phone(1), consent_state="pending"), "dup"
        )
    db.session.rollback()
    assert_in_step(db, shop)
    assert contact_counts.totals(shop.id)["pending"] == 0


def test_bulk_writes_are_fixed_by_recount(db, shop, make_shop):
    other = make_shop("beta.myshopify.com")
    create(db, other, 0, "subscribed")
    create(db, shop, 9000, "pending")
    records = [
        ContactRecord(line=i + 2, phone=phone(i), consent=STATES[i % len(STATES)])
        for i in range(37)
    ]
    write_batch(shop.id, 1, {"phone", "consent"}, records)
    db.session.commit()
    # the set-based writer does not touch the counters; recount rebuilds them
    assert contact_counts.totals(shop.id)["all"] == 1
    contact_counts.recount(shop.id)
    db.session.commit()
    assert_in_step(db, shop, other)
    assert contact_counts.totals(shop.id)["all"] == 38

    contact_counts.recount(shop.id)  # idempotent
    db.session.commit()
    assert_in_step(db, shop, other)


def test_recount_repairs_drifted_counters_and_drops_stale_states(db, shop):
    for i, consent in enumerate(["subscribed", "pending", "pending"]):
        create(db, shop, i, consent)
    db.session.execute(
        update(ShopContactCount).where(ShopContactCount.shop_id == shop.id).values(total=999)
    )
    db.session.execute(update(Contact).values(consent_state="unsubscribed"))
    db.session.commit()
    assert contact_counts.totals(shop.id) != real_counts(db, shop.id)
    contact_counts.recount(shop.id)
    db.session.commit()
    assert_in_step(db, shop)
    assert contact_counts.totals(shop.id)["unsubscribed"] == 3
    assert contact_counts.totals(shop.id)["pending"] == 0


def test_recount_of_a_shop_without_contacts_is_zero(db, shop):
    contact = create(db, shop, 1, "subscribed")
    db.session.execute(Contact.__table__.delete().where(Contact.id == contact.id))
    db.session.commit()
    contact_counts.recount(shop.id)
    db.session.commit()
    assert contact_counts.totals(shop.id)["all"] == 0
    assert_in_step(db, shop)


def test_random_sequences_of_writes_stay_in_step(db, shop, make_shop):
    other = make_shop("beta.myshopify.com")
    rng = random.Random(20240611)
    live: dict[int, list] = {shop.id: [], other.id: []}
    next_phone = 0
    for _ in range(60):
        target = rng.choice([shop, other])
        pool = live[target.id]
        action = rng.choice(["create", "create", "change", "delete"]) if pool else "create"
        if action == "create":
            next_phone += 1
            pool.append(create(db, target, next_phone, rng.choice(STATES)))
        elif action == "change":
            change(db, target, rng.choice(pool), rng.choice(STATES))
        else:
            remove(db, target, pool.pop(rng.randrange(len(pool))))
        assert_in_step(db, shop, other)
    assert contact_counts.totals(shop.id)["all"] == len(live[shop.id])
