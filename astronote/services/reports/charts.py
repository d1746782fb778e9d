"""Server-rendered SVG charts: the geometry here, the drawing in templates/_charts.html.

Nothing loads at run time and nothing needs JavaScript: each chart is an <svg> with
labelled axes (days in the shop's zone, named) and the table of the same numbers
right behind it, which is also what screen readers read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 16, 44
Y_STEPS = 4
MAX_X_LABELS = 7
MAX_DOTS = 62  # points drawn as dots (each with its tooltip) up to about two months


@dataclass
class Line:
    label: str
    css: str  # series-1 .. series-4
    path: str
    dots: list[tuple[str, str, str]] = field(default_factory=list)  # x, y, tooltip


@dataclass
class Chart:
    id: str
    title: str
    x_title: str
    y_title: str
    lines: list[Line]
    y_ticks: list[tuple[str, str, str]]  # y, label's baseline, label
    x_ticks: list[tuple[str, str]]  # x, label
    headers: list[str]
    rows: list[list[str]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.rows


def nice_step(most: float, integers: bool) -> float:
    """A round step (1, 2 or 5 x 10^k) so that Y_STEPS steps reach `most`."""
    if most <= 0:
        return 1
    raw = most / Y_STEPS
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= raw and (not integers or step == int(step)):
            return step
    return 10 * power


def _tick(value: float) -> str:
    """Axis labels: whole numbers without decimals (1,500 not 1,500.00)."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _x_positions(count: int) -> list[float]:
    if count == 1:
        return [(LEFT + WIDTH - RIGHT) / 2]
    span = WIDTH - RIGHT - LEFT
    return [LEFT + span * i / (count - 1) for i in range(count)]


def _day_label(days: Sequence[date], monthly: bool) -> Callable[[date], str]:
    if monthly:
        return lambda d: f"{d:%b %Y}"
    same_year = days[0].year == days[-1].year
    return (lambda d: f"{d:%b %-d}") if same_year else (lambda d: f"{d:%b %-d, %Y}")


def line_chart(
    chart_id: str,
    title: str,
    days: Sequence[date],
    series: dict[str, Sequence[float]],
    *,
    zone: str,
    y_title: str,
    fmt: Callable[[float], str] = lambda v: f"{int(v):,}",
    integers: bool = True,
    first_style: int = 1,
    monthly: bool = False,
) -> Chart:
    """Lines over days (or months); `series`: label -> one value per point (up to four).
    Styles series-1..4 (reports.css): the first is a wide pale band the others draw on."""
    xs = _x_positions(len(days)) if days else []
    most = max((max(values, default=0) for values in series.values()), default=0)
    step = nice_step(most, integers)
    top_value = step * Y_STEPS
    plot_h = HEIGHT - BOTTOM - TOP

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - value / top_value)

    label = _day_label(days, monthly) if days else str
    lines = []
    for n, (name, values) in enumerate(series.items(), start=first_style):
        points = [(x, y_of(v)) for x, v in zip(xs, values, strict=True)]
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points)
        )
        dots = []
        if len(points) <= MAX_DOTS:
            dots = [
                (f"{x:.1f}", f"{y:.1f}", f"{label(d)}: {fmt(v)} {name.lower()}")
                for (x, y), d, v in zip(points, days, values, strict=True)
            ]
        lines.append(Line(name, f"series-{n}", path, dots))
    every = max(1, math.ceil(len(days) / MAX_X_LABELS))
    # Coordinates formatted here: a format filter per number in the template cost ms.
    x_ticks = [(f"{xs[i]:.1f}", label(days[i])) for i in range(0, len(days), every)]
    y_ticks = [
        (f"{y_of(step * i):.1f}", f"{y_of(step * i) + 4:.1f}", _tick(step * i))
        for i in range(Y_STEPS + 1)
    ]
    unit = f"Month ({zone})" if monthly else f"Day ({zone})"
    row_label = "%B %Y" if monthly else "%a %b %-d, %Y"
    rows = [
        [d.strftime(row_label), *(fmt(values[i]) for values in series.values())]
        for i, d in enumerate(days)
    ]
    return Chart(chart_id, title, unit, y_title, lines, y_ticks, x_ticks, [unit, *series], rows)
