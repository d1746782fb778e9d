"""Report figures: the rollup's counters for a period, and the rates read from them.

Delivery rate = delivered / sent. CTR = unique clicks / delivered, or / sent while no
delivery report has come back (as services/links/stats.py). Revenue is net of refunds,
in the shop's currency's minor units. Cost is the credits the messages consumed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from astronote.models.report import COUNTERS

ZERO_DECIMALS = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"}
ZERO_DECIMALS |= {"VND", "VUV", "XAF", "XOF", "XPF"}
THREE_DECIMALS = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}


@dataclass
class Figures:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    orders: int = 0
    revenue_cents: int = 0
    refunds_cents: int = 0
    opt_outs: int = 0
    new_subscribers: int = 0
    credits: int = 0

    @classmethod
    def of(cls, row) -> Figures:
        """From a row (mapping or object) holding the counters; NULL sums are 0."""
        get = row.get if isinstance(row, dict) else lambda n: getattr(row, n, 0)
        return cls(**{name: int(get(name) or 0) for name in COUNTERS})

    def add(self, other: Figures) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.sent if self.sent else None

    @property
    def ctr_base(self) -> int:
        return self.delivered or self.sent

    @property
    def ctr(self) -> float | None:
        return self.unique_clicks / self.ctr_base if self.ctr_base else None

    @property
    def revenue(self) -> int:
        """Net of refunds, minor units."""
        return self.revenue_cents - self.refunds_cents


def percent(rate: float | None) -> str:
    """'97.5%'; an em dash before anything was sent."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def exponent(currency: str | None) -> int:
    code = (currency or "").upper()
    return 0 if code in ZERO_DECIMALS else 3 if code in THREE_DECIMALS else 2


def money(minor: int, currency: str | None) -> str:
    """'1,234.56 EUR': minor units in the currency's own decimals, code after."""
    places = exponent(currency)
    value = minor / 10**places
    return f"{value:,.{places}f} {(currency or '').upper()}".strip()


def money_plain(minor: int, currency: str | None) -> str:
    """'1234.56': for CSV cells and chart values."""
    places = exponent(currency)
    return f"{minor / 10**places:.{places}f}"
