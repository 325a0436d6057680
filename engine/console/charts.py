"""The console's charts: SVG drawn on the server by pygal, inline in the page.

Each chart has a title, axes and a legend, and comes with its numbers as a table (inside a
``<details>`` under it), which is what a screen reader reads and what a person copies.
pygal's own scripts (tooltips) are left out: the console loads no script but its own.
"""

from __future__ import annotations

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
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
    value_font_size=11,
)
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


def _configured(
    kind: type[pygal.graph.graph.Graph], title: str, **options: object
) -> pygal.graph.graph.Graph:
    return kind(
        title=title,
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        explicit_size=False,
        width=720,
        height=320,
        legend_at_bottom=True,
        legend_at_bottom_columns=4,
        show_minor_x_labels=True,
        truncate_label=-1,
        truncate_legend=-1,
        print_values=False,
        no_data_text="No data in this period",
        margin=12,
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
) -> Chart:
    """Bars per label, one colour per series (stacked: one bar per label)."""
    kind: type[pygal.graph.graph.Graph]
    if horizontal:
        kind = pygal.StackedHorizontalBar if stacked else pygal.HorizontalBar
    else:
        kind = pygal.StackedBar if stacked else pygal.Bar
    chart = _configured(
        kind,
        title,
        y_title=unit or None,
        value_formatter=lambda v: formatter.format(v) if v is not None else "—",
        x_label_rotation=0 if len(labels) < 8 else 30,
    )
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
    chart = _configured(
        pygal.Line,
        title,
        y_title=unit or None,
        value_formatter=lambda v: formatter.format(v) if v is not None else "—",
        allow_interruptions=True,
        dots_size=3,
        range=range_,
        x_label_rotation=0 if len(labels) < 8 else 30,
    )
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return Chart(title, _svg(chart), labels, series, unit)
