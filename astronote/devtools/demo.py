"""Seed a demo shop with a few hundred realistic contacts (idempotent)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from sqlalchemy import func, select, update

from astronote.extensions import db
from astronote.models import Automation, ConsentState, Shop, ShopSenderNumber
from astronote.services import credits
from astronote.services.automations import settings as automation_settings
from astronote.services.automations.catalogue import DEMO_ENABLED
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch

DEMO_DOMAIN = "astronote-demo.myshopify.com"
DEMO_CREDITS = 10_000
# US and Canadian carriers refuse alphanumeric senders: the demo's US contacts get texted
# from this (fictional, 555-01xx) number, the others from the default alphanumeric sender.
DEMO_NUMBER = "+12125550199"
FIRST = [
    "Maria",
    "Eleni",
    "Nikos",
    "Giorgos",
    "Sophie",
    "James",
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Chloé",
    "Lukas",
    "Mia",
    "Ava",
    "Lucas",
    "Zoë",
    "Dimitra",
    "Kostas",
    "Anna",
    "Ben",
]
LAST = [
    "Papadopoulos",
    "Smith",
    "Johnson",
    "Müller",
    "Brown",
    "Nikolaou",
    "Garcia",
    "Martin",
    "Taylor",
    "Schmidt",
    "Georgiou",
    "Wilson",
    "Dubois",
    "Rossi",
    "Clark",
    "Evans",
]
TAGS = ["vip", "newsletter", "wholesale", "returning", "black-friday", "instagram"]
REGIONS = ["US", "US", "GR", "GB", "DE"]


def _phone(rng: random.Random, region: str) -> str:
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    national = str(example.national_number)
    while True:
        tail = "".join(rng.choice("0123456789") for _ in range(4))
        candidate = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, PhoneNumberFormat.E164)


def _record(rng: random.Random, line: int) -> ContactRecord:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    consent = rng.choices(
        [ConsentState.SUBSCRIBED, ConsentState.UNSUBSCRIBED, ConsentState.NOT_SUBSCRIBED],
        weights=[75, 8, 17],
    )[0]
    return ContactRecord(
        line=line,
        phone=_phone(rng, rng.choice(REGIONS)),
        first_name=first,
        last_name=last,
        email=f"{first}.{last}{line}@example.com".lower().replace("é", "e").replace("ë", "e"),
        gender=rng.choice(["female", "male", None]),
        birth_date=date(1960, 1, 1) + timedelta(days=rng.randrange(0, 16000)),
        consent=consent.value,
        tags=rng.sample(TAGS, rng.randrange(0, 3)),
    )


def seed_demo_shop(contacts: int = 300, seed: int = 7) -> tuple[Shop, bool]:
    """Create the demo shop and its contacts once; later calls only repair its senders."""
    shop = db.session.execute(select(Shop).filter_by(shop_domain=DEMO_DOMAIN)).scalar_one_or_none()
    if shop is not None:
        _repair_senders(shop)
        _seed_automations(shop)
        return shop, False
    shop = Shop(
        shop_domain=DEMO_DOMAIN,
        name="Astronote Demo Store",
        is_demo=True,
        default_region="US",
        timezone="America/New_York",
    )
    db.session.add(shop)
    db.session.flush()
    db.session.add(ShopSenderNumber(number=DEMO_NUMBER, shop_id=shop.id))
    rng = random.Random(seed)
    records = {r.phone: r for r in (_record(rng, i + 2) for i in range(contacts))}
    fields = {"first_name", "last_name", "email", "gender", "birth_date", "consent", "tags"}
    write_batch(shop.id, 0, fields, list(records.values()), evidence="Demo data seeded by make run")
    contact_counts.recount(shop.id)
    credits.grant(shop.id, DEMO_CREDITS, "demo-seed", "Demo credits")
    db.session.commit()
    _seed_automations(shop)
    return shop, True


def _seed_automations(shop: Shop) -> None:
    """The flows' rows, with Welcome and Order confirmation on, the first time only: a
    newcomer sees a storefront opt-in bring a welcome SMS; later choices are kept."""
    query = select(func.count()).select_from(Automation).filter_by(shop_id=shop.id)
    if db.session.execute(query).scalar_one():
        return
    automation_settings.ensure(shop.id)
    db.session.execute(
        update(Automation)
        .where(Automation.shop_id == shop.id, Automation.flow.in_(DEMO_ENABLED))
        .values(enabled=True)
    )
    db.session.commit()


def _repair_senders(shop: Shop) -> None:
    """Demo shops seeded before senders were checked had "Astronote" for US numbers."""
    if shop.sender_id and not shop.sender_id.startswith("+"):
        shop.sender_id = None
    if db.session.get(ShopSenderNumber, DEMO_NUMBER) is None:
        db.session.add(ShopSenderNumber(number=DEMO_NUMBER, shop_id=shop.id))
    db.session.commit()
