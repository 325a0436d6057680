"""The cxflow worker process: runs journey workflows and their activities.

Scale it by running more of them (`docker compose up --scale worker=N`); each
polls the same task queue. SIGTERM and SIGINT stop it gracefully: it stops
polling, lets running activities finish within the grace period, and exits.
What it runs on is built by the composition root, :mod:`engine.composition`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from connectors.errors import ConnectorError
from dsl.errors import CxflowError
from engine.composition import Runtime
from engine.settings import Settings


async def run_worker(settings: Settings | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    settings = settings or Settings.from_env()
    settings.check_secret()  # it signs every message's links
    async with Runtime.open(settings) as runtime:
        worker = runtime.worker()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with worker:
            # One line when it polls: what an operator (and `docker compose logs`) looks for.
            sys.stderr.write(
                f"cxflow worker: polling {settings.task_queue} on {settings.temporal_address}\n"
            )
            sys.stderr.flush()
            await stop.wait()


def main() -> None:
    """Run the worker; a configuration or connection problem is one line, not a traceback.

    Like the CLI, it leaves with ``os._exit`` once stopped: the Temporal client's
    threads can abort CPython's finalisation (temporalio/sdk-python#300).
    """
    code = _run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run() -> int:
    try:
        asyncio.run(run_worker())
    except (CxflowError, ConnectorError) as problem:  # settings, store, Temporal, plugins
        sys.stderr.write(f"cxflow worker: {problem}\n")
        return 2
    return 0


if __name__ == "__main__":
    main()
