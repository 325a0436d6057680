"""The console's charts: SVG with no script and nothing from elsewhere, readable axes."""

from __future__ import annotations

import re

from engine.console.charts import STATUS_COLOURS, bars, lines


def test_a_chart_is_svg_with_its_title_and_legend_and_no_script() -> None:
    chart = bars("Entries per week", ["2026-W48", "2026-W49"], {"Entries": [3, 12]})
    svg = str(chart.svg)
    assert svg.startswith("<svg") and "Entries per week" in svg and ">Entries<" in svg
    assert "<script" not in svg
    assert not re.search(r"(href|src)=\"https?://", svg)
    assert chart.labels == ["2026-W48", "2026-W49"] and chart.series["Entries"] == [3, 12]


def test_counts_get_whole_number_ticks_of_a_readable_step() -> None:
    svg = str(bars("Messages", ["email"], {"Sent": [63]}).svg)
    ticks = re.findall(r'<text[^>]*class="[^"]*"[^>]*>(\d+)</text>', svg)
    assert {"0", "20", "40", "60", "80"} <= set(ticks), ticks
    assert "14" not in ticks


def test_a_long_series_writes_at_most_ten_of_its_labels() -> None:
    days = [f"2026-11-{d:02d}" for d in range(1, 31)]
    svg = str(lines("Members", days, {"Members": list(range(30))}).svg)
    written = re.findall(r"<text[^>]*>(2026-11-\d\d)</text>", svg)  # axis labels, not tooltips
    assert 3 <= len(written) <= 10, written


def test_status_charts_take_the_badges_colours() -> None:
    svg = str(bars("Calls", ["shop.a"], {"Sent": [1], "Skipped": [0], "Failed": [2]},
                   stacked=True, colours=STATUS_COLOURS).svg)  # fmt: skip
    assert all(colour in svg for colour in STATUS_COLOURS)
