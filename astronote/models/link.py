"""Tracked short links: one link list per source, clicks and their rollups.

No row is written per recipient at send time: a code names (link set, message,
link index) and is signed (services/links/codec.py). Clicks arrive in batches from
the redirect's buffer; the two rollups are kept up to date by the same batch.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, now_utc


class LinkSet(Base):
    """The http(s) URLs of one source's body, in order: a code's link index points here.

    Rows never change once written, so the redirect may cache them. A source that
    changes its links (a flow's new body) gets a new set; old codes keep the old one.
    """

    __tablename__ = "link_sets"
    __table_args__ = (
        UniqueConstraint(
            "shop_id", "source_kind", "source_id", "urls_hash", name="uq_link_sets_source_urls"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    source_kind: Mapped[str] = mapped_column(String(16))  # campaign | automation
    source_id: Mapped[int] = mapped_column(BigId)  # campaigns.id | automations.id
    name: Mapped[str] = mapped_column(String(200))  # utm_campaign
    urls_hash: Mapped[str] = mapped_column(String(64))
    urls: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class LinkClick(Base):
    """One counted click (not a bot, not HEAD): the raw record attribution reads."""

    __tablename__ = "link_clicks"
    __table_args__ = (Index("ix_link_clicks_shop_message", "shop_id", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigId)  # loose, as messages' own references
    link_set_id: Mapped[int] = mapped_column(BigId)
    link_index: Mapped[int]
    contact_id: Mapped[int | None] = mapped_column(BigId)
    clicked_at: Mapped[datetime]


class MessageClick(Base):
    """Per message: how often its links were clicked. A row exists = a unique click."""

    __tablename__ = "message_clicks"
    __table_args__ = (
        # Attribution: a contact's latest click within the window.
        Index("ix_message_clicks_shop_contact_last", "shop_id", "contact_id", "last_clicked_at"),
    )

    message_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(BigId)
    source_kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int] = mapped_column(BigId)
    clicks: Mapped[int]
    first_clicked_at: Mapped[datetime]
    last_clicked_at: Mapped[datetime]


class LinkSourceStats(Base):
    """Per campaign or flow: total clicks and unique clicked messages, kept incrementally."""

    __tablename__ = "link_source_stats"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    source_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    clicks: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc)
