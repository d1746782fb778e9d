"""Message templates: a shop's own saved messages, and how often the library's were used.

The library itself is code (services/templates/library.py): the same for every shop.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, TimestampMixin


class MessageTemplate(TimestampMixin, Base):
    """A message the merchant saved to reuse, filed under a use case."""

    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("shop_id", "name", name="uq_message_templates_shop_name"),
        Index("ix_message_templates_shop_use_case", "shop_id", "use_case", "name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    use_case: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    uses: Mapped[int] = mapped_column(default=0, server_default="0")


class LibraryTemplateUse(Base):
    """How many saved campaigns and flows one shop started from one library template."""

    __tablename__ = "library_template_uses"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    template_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    uses: Mapped[int] = mapped_column(default=0, server_default="0")
