"""`cxflow report`: runs, conversions and experiment results of a deployed journey."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from engine.analytics.report import build_report, print_report, render_html
from engine.cli.context import open_store
from engine.cli.output import err, out
from engine.errors import CommandError
from engine.settings import Settings


def report(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Runs, conversions and experiment results of a deployed journey."""
    with open_store(Settings.from_env()) as store:
        compiled = store.get_journey(journey)
        if compiled is None:
            raise CommandError(
                f"journey {journey!r} is not deployed: see `cxflow journeys list`",
                code="journey_not_deployed",
            )
        result = build_report(store, compiled)
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        print_report(result, out)
    if html_file is not None:
        html_file.write_text(render_html(result), encoding="utf-8")
        err.print(f"wrote {escape(str(html_file))}")
