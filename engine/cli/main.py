"""The `cxflow` command line: validate, explain and run journeys.

This module is the app: it registers the commands and sub-apps of the area modules
(``journeys``, ``runs``, ``segments``, ``customers``, ``reports``, ``admin``, ``dev``),
which never import it, and maps cxflow's error tree to exit codes in one table.
Every command reports bad input as a message that says where and what to do, and
exits non-zero; no Python traceback reaches the user (set CXFLOW_DEBUG=1 to see one
when reporting a bug).
"""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.markup import escape

from connectors.errors import ConnectorError
from dsl.diagnostics import JourneyInvalidError
from dsl.errors import ConfigurationError, CxflowError, InputError, UnavailableError
from dsl.segment_loader import SegmentInvalidError
from engine.cli import (
    admin,
    customers,
    demo,
    dev,
    events,
    journeys,
    profiles,
    reports,
    runs,
    segments,
    suppressions,
    testing,
    users,
)
from engine.cli.output import err
from engine.errors import DeployRefusedError
from engine.store import StoreError

app = typer.Typer(
    name="cxflow",
    help="Customer journeys as code: YAML journeys compiled to durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command()(journeys.validate)
app.command("test")(testing.run_tests)
app.command()(testing.simulate)
app.command("compile")(journeys.compile_command)
app.command()(journeys.graph)
app.command()(journeys.schema)
app.command()(dev.dev)
app.command()(demo.demo)
app.command()(journeys.deploy)
app.command()(journeys.start)
app.command()(reports.report)
app.command("send-event")(journeys.send_event)
app.command()(admin.api)
app.add_typer(journeys.journeys_app, name="journeys")
app.add_typer(runs.runs_app, name="runs")
app.add_typer(admin.connectors_app, name="connectors")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(segments.segments_app, name="segments")
for name, command in (
    ("show", profiles.customers_show),
    ("timeline", profiles.customers_timeline),
    ("search", profiles.customers_search),
    ("export", profiles.customers_export),
    ("merges", profiles.customers_merges),
    ("merge", profiles.customers_merge),
    ("unmerge", profiles.customers_unmerge),
    ("value", profiles.customers_value),
):
    customers.customers_app.command(name)(command)
app.add_typer(customers.customers_app, name="customers")
app.add_typer(events.events_app, name="events")
app.add_typer(suppressions.suppressions_app, name="suppressions")
app.add_typer(users.users_app, name="users")

# The exit code of each error of the tree, first match wins: 1 when files have errors
# (their diagnostics are printed), 2 for every other error the message explains, 3 for
# anything else (a bug). Typer's own usage errors exit 2, `typer.Exit(n)` exits n.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (JourneyInvalidError, 1),
    (SegmentInvalidError, 1),
    (DeployRefusedError, 1),
    (InputError, 2),
    (ConfigurationError, 2),
    (UnavailableError, 2),
    (ConnectorError, 2),
    (CxflowError, 2),
    # Not on the tree yet (engine.store.database); a ConfigurationError once it is.
    (StoreError, 2),
)
INTERNAL_ERROR = 3
INTERRUPTED = 130


def exit_code(error: Exception) -> int:
    """The exit code of ``error``: its row of :data:`EXIT_CODES`, else INTERNAL_ERROR."""
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), INTERNAL_ERROR)


def main() -> None:
    """Entry point: run the app and turn every failure into a message, never a traceback.

    Then leave at once: the Temporal client's Rust threads can crash CPython's
    finalisation ("PyGILState_Release ... finalizing", temporalio/sdk-python#300),
    which would turn a finished command into an abort. Commands close what they
    opened themselves; output and logs are flushed here.
    """
    code = _run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run() -> int:
    try:
        app()
    except SystemExit as leaving:
        if leaving.code is None or isinstance(leaving.code, int):
            return leaving.code or 0
        err.print(f"[red]cxflow: {escape(str(leaving.code))}[/]")
        return 1
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as error:  # last line of defence: keep tracebacks away from users
        code = exit_code(error)
        if code != INTERNAL_ERROR:
            err.print(f"[red]cxflow: {escape(str(error))}[/]")
            return code
        if os.environ.get("CXFLOW_DEBUG"):
            raise
        err.print(
            f"[red]cxflow: internal error ({type(error).__name__}: {escape(str(error))}). "
            "This is a bug in cxflow: rerun with CXFLOW_DEBUG=1 and report the traceback.[/]"
        )
        return INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    main()
