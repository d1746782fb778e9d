"""One code per message, written set-based after the audience snapshot.

A code is the campaign's random prefix, the message id in a fixed width and a keyed tag:
unique because message ids are (no lookup, no retry on collision), all the same length
(the cost preview is exact) and not guessable from a neighbour's. Rows are written in
keyset chunks with executemany, each chunk in its own commit, so a worker that dies
mid-way resumes after the last message it wrote; the message id is the key, so a
message never gets two codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app
from sqlalchemy import func, insert, select

from astronote.extensions import db
from astronote.integrations.shopify.discounts import BULK_LIMIT
from astronote.models import (
    CampaignDiscount,
    DiscountCode,
    DiscountCodeBatch,
    DiscountState,
    Message,
)
from astronote.services.sql import in_list

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: no 0/O, 1/I to misread
ID_WIDTH, TAG_WIDTH, PREFIX_WIDTH = 7, 4, 3  # 7 symbols: message ids below 2**35
CODE_LENGTH = PREFIX_WIDTH + ID_WIDTH + TAG_WIDTH
SAMPLE = "SMS" + "X" * (CODE_LENGTH - 3)  # prices and previews: same length, same charset
WRITE_CHUNK = 5_000
MISSING = (
    "Paused: a message needs its own discount code and has none. Nothing was sent "
    "without one; resume to create the missing codes first."
)


def _encode(number: int, width: int) -> str:
    symbols = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        symbols.append(ALPHABET[digit])
    return "".join(reversed(symbols))


def new_prefix() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(PREFIX_WIDTH))


def code_for(prefix: str, message_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"discount:{prefix}:{message_id}".encode(), hashlib.sha256).digest()
    tag = _encode(int.from_bytes(digest[:8], "big"), TAG_WIDTH)
    return f"{prefix}{_encode(message_id, ID_WIDTH)}{tag}"


def write(discount: CampaignDiscount) -> int:
    """Give every message of the campaign its code (resuming); returns the total."""
    campaign_id = discount.campaign_id
    last, written = db.session.execute(
        select(func.max(DiscountCode.message_id), func.count()).where(
            DiscountCode.campaign_id == campaign_id
        )
    ).one()
    last = last or 0
    while True:
        ids = (
            db.session.execute(
                select(Message.id)
                .where(Message.campaign_id == campaign_id, Message.id > last)
                .order_by(Message.id)
                .limit(WRITE_CHUNK)
            )
            .scalars()
            .all()
        )
        if not ids:
            return written
        rows = [
            {
                "message_id": message_id,
                "campaign_id": campaign_id,
                "code": code_for(discount.prefix, message_id),
                "batch_no": (written + n) // BULK_LIMIT,
            }
            for n, message_id in enumerate(ids)
        ]
        db.session.execute(insert(DiscountCode.__table__), rows)
        db.session.commit()
        written, last = written + len(ids), ids[-1]


def plan_batches(campaign_id: int, total: int) -> None:
    """One batch row per 250 codes (those not there yet); caller commits."""
    have = set(
        db.session.execute(
            select(DiscountCodeBatch.batch_no).where(DiscountCodeBatch.campaign_id == campaign_id)
        ).scalars()
    )
    wanted = [
        {"campaign_id": campaign_id, "batch_no": n, "state": "pending"}
        for n in range(-(-total // BULK_LIMIT))
        if n not in have
    ]
    if wanted:
        db.session.execute(insert(DiscountCodeBatch.__table__), wanted)


def batch_codes(campaign_id: int, batch_no: int) -> list[str]:
    query = select(DiscountCode.code).where(
        DiscountCode.campaign_id == campaign_id, DiscountCode.batch_no == batch_no
    )
    return list(db.session.execute(query.order_by(DiscountCode.message_id)).scalars())


def first_code(campaign_id: int) -> str | None:
    query = select(DiscountCode.code).where(DiscountCode.campaign_id == campaign_id)
    return db.session.execute(query.order_by(DiscountCode.message_id).limit(1)).scalar()


def for_messages(campaign_id: int | None, message_ids: list[int]) -> dict[int, str] | None:
    """The send path's codes: None when the campaign gives no unique codes, else each
    message's code, only if Shopify has it (its batch is done).

    Two primary-key reads, no join: the planner cannot pick a scan over a freshly
    filled table, whatever its statistics say (a join did: 2 s a chunk at 200,000)."""
    if campaign_id is None:
        return None
    state = db.session.execute(
        select(CampaignDiscount.state).where(CampaignDiscount.campaign_id == campaign_id)
    ).scalar()
    if state is None:
        return None
    if state != DiscountState.READY or not message_ids:
        return {}
    # By primary key alone: a campaign_id condition sent PostgreSQL to the campaign's
    # index (every code of it) on a table without statistics yet. Checked below instead.
    found = db.session.execute(
        select(
            DiscountCode.message_id,
            DiscountCode.code,
            DiscountCode.batch_no,
            DiscountCode.campaign_id,
        ).where(in_list(DiscountCode.message_id, message_ids))
    ).all()
    found = [row for row in found if row.campaign_id == campaign_id]
    batch_nos = sorted({row.batch_no for row in found})
    done = set(
        db.session.execute(
            select(DiscountCodeBatch.batch_no).where(
                DiscountCodeBatch.campaign_id == campaign_id,
                in_list(DiscountCodeBatch.batch_no, batch_nos),
                DiscountCodeBatch.state == "done",
            )
        ).scalars()
    )
    return {row.message_id: row.code for row in found if row.batch_no in done}
