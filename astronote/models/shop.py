"""The tenant: one installed Shopify store and its Astronote settings."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, TimestampMixin, now_utc


class Shop(TimestampMixin, Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    installed_at: Mapped[datetime] = mapped_column(default=now_utc)
    uninstalled_at: Mapped[datetime | None]
    # ISO 3166 region used to read phone numbers written without a country code.
    default_region: Mapped[str] = mapped_column(String(2), default="US")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    country: Mapped[str | None] = mapped_column(String(2))  # the shop's own country code
    sender_id: Mapped[str | None] = mapped_column(String(16))
    # Offline token pair, Fernet-encrypted at rest (services/shopify/tokens.py).
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None]
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_expires_at: Mapped[datetime | None]
    scopes: Mapped[str | None] = mapped_column(Text)
    # Compliance settings (docs/COMPLIANCE.md): strictest sensible defaults.
    quiet_start: Mapped[time] = mapped_column(default=time(8, 0), server_default="08:00:00")
    quiet_end: Mapped[time] = mapped_column(default=time(21, 0), server_default="21:00:00")
    transactional_ignores_quiet_hours: Mapped[bool] = mapped_column(
        default=True, server_default="1"
    )
    frequency_cap_hours: Mapped[int] = mapped_column(default=16, server_default="16")
    opt_out_mode: Mapped[str] = mapped_column(String(16), default="reply", server_default="reply")
    help_text: Mapped[str | None] = mapped_column(String(300))
    double_opt_in: Mapped[bool] = mapped_column(default=False, server_default="0")
    keywords: Mapped[dict | None] = mapped_column(JSON)  # overrides of the default keyword sets
    # Revenue attribution windows (services/attribution): a click, else a delivery.
    attribution_click_days: Mapped[int] = mapped_column(default=5, server_default="5")
    attribution_delivery_hours: Mapped[int] = mapped_column(default=24, server_default="24")

    @property
    def display_name(self) -> str:
        return self.name or self.shop_domain.removesuffix(".myshopify.com")
