"""Pure pieces: periods from query arguments, money in minor units, chart geometry."""

from datetime import date, timedelta

import pytest

from astronote.errors import ValidationFailed
from astronote.services.reports import charts, days, periods
from astronote.services.reports.figures import Figures, money, percent


def test_presets_end_today_in_the_shop_zone():
    today = days.today("Pacific/Kiritimati")
    week = periods.parse({"period": "7"}, "Pacific/Kiritimati")
    assert (week.start, week.end, week.days) == (today - timedelta(days=6), today, 7)
    assert periods.parse({}, "UTC").key == "30"
    first = date(2025, 1, 1)
    assert periods.parse({"period": "all"}, "UTC", first).start == first
    custom = periods.parse({"period": "custom", "start": "2026-01-01", "end": "2026-01-31"}, "UTC")
    assert custom.days == 31 and custom.args()["start"] == "2026-01-01"


@pytest.mark.parametrize(
    "args, field",
    [
        ({"period": "365"}, "period"),
        ({"period": "custom", "end": "2026-01-01"}, "start"),
        ({"period": "custom", "start": "01/02/2026", "end": "2026-01-01"}, "start"),
        ({"period": "custom", "start": "2026-02-01", "end": "2026-01-01"}, "end"),
        ({"period": "custom", "start": "2000-01-01", "end": "2099-01-01"}, "end"),
    ],
)
def test_bad_periods_name_their_field(args, field):
    with pytest.raises(ValidationFailed) as caught:
        periods.parse(args, "UTC")
    assert field in caught.value.field_errors


def test_money_uses_the_currency_decimals():
    assert money(123456, "USD") == "1,234.56 USD"
    assert money(1500, "JPY") == "1,500 JPY"
    assert money(1500, "KWD") == "1.500 KWD"
    assert money(-250, "EUR") == "-2.50 EUR"


def test_rates_and_their_bases():
    f = Figures(sent=10, delivered=0, unique_clicks=2, revenue_cents=900, refunds_cents=100)
    assert f.delivery_rate == 0 and f.ctr == 0.2 and f.revenue == 800  # CTR per sent
    f.delivered = 8
    assert f.ctr == 0.25 and percent(f.delivery_rate) == "80.0%"
    assert percent(Figures().delivery_rate) == "—"


def test_chart_geometry_axes_and_table():
    days_ = [date(2026, 12, 1) + timedelta(days=n) for n in range(3)]
    chart = charts.line_chart(
        "c", "T", days_, {"Sent": [0, 7, 3], "Delivered": [0, 5, 3]}, zone="Europe/Athens",
        y_title="Messages",
    )  # fmt: skip
    assert chart.x_title == "Day (Europe/Athens)" and chart.headers[0] == "Day (Europe/Athens)"
    assert [label for _, _, label in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert chart.rows[1] == ["Wed Dec 2, 2026", "7", "5"]
    sent = chart.lines[0]
    assert sent.path.startswith(f"M{charts.LEFT:.1f},{charts.HEIGHT - charts.BOTTOM:.1f}")
    assert len(sent.dots) == 3 and "Dec 2: 7 sent" in sent.dots[1][2]
    one = charts.line_chart("d", "T", days_[:1], {"Sent": [0]}, zone="UTC", y_title="M")
    assert one.lines[0].path.count("M") == 1 and one.y_ticks[-1][2] == "4"
    assert charts.nice_step(10_000_000, True) == 2_500_000


@pytest.mark.parametrize(
    "start, end, edges, months",
    [
        ("2026-01-10", "2026-01-20", [("2026-01-10", "2026-01-20")], None),
        ("2026-01-01", "2026-01-31", [], ("2026-01-01", "2026-01-01")),
        ("2025-12-15", "2026-03-03", [("2025-12-15", "2025-12-31"), ("2026-03-01", "2026-03-03")],
         ("2026-01-01", "2026-02-01")),
        ("2026-02-01", "2026-03-30", [("2026-03-01", "2026-03-30")], ("2026-02-01", "2026-02-01")),
        ("2026-01-31", "2026-02-27", [("2026-01-31", "2026-02-27")], None),
    ],
)  # fmt: skip
def test_periods_split_into_whole_months_and_edges(start, end, edges, months):
    from astronote.services.reports.queries import split

    period = periods.Period("custom", date.fromisoformat(start), date.fromisoformat(end))
    found_edges, found_months = split(period)
    as_dates = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in edges]
    assert found_edges == as_dates
    assert found_months == (months and tuple(map(date.fromisoformat, months)))
