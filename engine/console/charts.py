"""The console's charts: SVG drawn on the server by pygal, inline in the page.

Each chart has a title, axes and a legend, and comes with its numbers as a table (inside a
``<details>`` under it), which is what a screen reader reads and what a person copies.
pygal's own scripts (tooltips) are left out: the console loads no script but its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pygal
from markupsafe import Markup
from pygal.style import Style

# The console's palette (static/console.css): accessible contrast on white.
COLOURS = ("#2456a6", "#d9730d", "#2f8f5b", "#9c3fa6", "#b3261e", "#5b6470")
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#c9ced6",
    opacity=".9",
    opacity_hover="1",
    colors=COLOURS,
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=14,
    title_font_size=17,
    value_font_size=13,
)
# Sent, skipped, failed: the colours of the console's status badges.
STATUS_COLOURS = ("#2456a6", "#d9730d", "#b3261e")
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

Series = Mapping[str, Sequence[float | None]]


@dataclass(frozen=True)
class Chart:
    """A drawn chart and its numbers, for the template's ``chart`` macro."""

    title: str
    svg: Markup
    labels: Sequence[str]
    series: Series
    unit: str = ""


def _svg(chart: pygal.graph.graph.Graph) -> Markup:
    text = chart.render(is_unicode=True)
    return Markup(_COMMENT.sub("", _SCRIPT.sub("", text)))


MAX_X_LABELS = 10


def _nice_step(rough: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... at least ``rough``: ticks a person reads."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= rough:
                return factor * magnitude
        magnitude *= 10


def _axes(labels: Sequence[str], series: Series, formatter: str) -> dict[str, object]:
    """Options that keep axes readable: at most ten x labels written (every n-th), and
    whole-number y ticks when the values are counts."""
    options: dict[str, object] = {"x_label_rotation": 0 if len(labels) <= 6 else 30}
    if len(labels) > MAX_X_LABELS:
        options.update(
            x_labels_major_every=math.ceil(len(labels) / MAX_X_LABELS), show_minor_x_labels=False
        )
    values = [v for vs in series.values() for v in vs if v is not None]
    if values and all(float(v).is_integer() for v in values) and min(values) >= 0:
        top = max(max(values), 1)
        step = _nice_step(top / 5)
        options["y_labels"] = list(range(0, int(top) + step + 1, step))
        options["y_labels_major_every"] = 1
    else:
        options["y_labels_major_every"] = None
    options["formatter"] = lambda v: formatter.format(v) if v is not None else "—"
    return options


def _configured(
    kind: type[pygal.graph.graph.Graph], title: str, **options: object
) -> pygal.graph.graph.Graph:
    options.setdefault("style", STYLE)
    return kind(
        title=title,
        js=[],
        disable_xml_declaration=True,
        explicit_size=False,
        width=600,
        height=360,
        legend_at_bottom=True,
        legend_box_size=14,
        truncate_label=-1,
        truncate_legend=-1,
        print_values=False,
        no_data_text="No data in this period",
        margin=16,
        spacing=14,
        **options,
    )


def bars(
    title: str,
    labels: Sequence[str],
    series: Series,
    *,
    unit: str = "",
    stacked: bool = False,
    horizontal: bool = False,
    formatter: str = "{:,.0f}",
    colours: Sequence[str] | None = None,
) -> Chart:
    """Bars per label, one colour per series (stacked: one bar per label)."""
    kind: type[pygal.graph.graph.Graph]
    if horizontal:
        kind = pygal.HorizontalStackedBar if stacked else pygal.HorizontalBar
    else:
        kind = pygal.StackedBar if stacked else pygal.Bar
    options = _axes(labels, series, formatter)
    if colours is not None:
        options["style"] = Style(**{**STYLE.to_dict(), "colors": tuple(colours)})
    chart = _configured(kind, title, y_title=unit or None, **options)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return Chart(title, _svg(chart), labels, series, unit)


def lines(
    title: str,
    labels: Sequence[str],
    series: Series,
    *,
    unit: str = "",
    formatter: str = "{:,.1f}",
    range_: tuple[float, float] | None = None,
) -> Chart:
    """A line per series over the labels (weeks, days); gaps where a value is None."""
    axes = _axes(labels, series, formatter)
    if range_ is not None:
        axes.pop("y_labels", None)
    chart = _configured(
        pygal.Line,
        title,
        y_title=unit or None,
        allow_interruptions=True,
        dots_size=3 if len(labels) <= 40 else 0,
        stroke_style={"width": 2.5},
        range=range_,
        **axes,
    )
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return Chart(title, _svg(chart), labels, series, unit)
