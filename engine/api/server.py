"""The event API served inside a program that owns the event loop and the signals.

`cxflow dev` runs the API beside the worker in one process, and the tests run
it beside the Temporal test server; there uvicorn must not take over SIGINT and
SIGTERM (the host program stops it), and a port already taken must be an error
that says what to do rather than uvicorn's ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from engine.errors import ApiServerError


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        """Leave signals to the host program."""
        yield


class EmbeddedApiServer:
    """``async with EmbeddedApiServer(app, host, port) as server: server.url``.

    Port 0 picks a free port (tests); ``url`` tells which.
    """

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._serve(), name="cxflow-api")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise ApiServerError(f"the event API stopped before it listened on {self.url}")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit:  # uvicorn's answer to a port in use (it logged the OSError)
            raise ApiServerError(
                f"the event API cannot listen on {self.host}:{self.port} (in use?): "
                "stop what holds the port or choose another one"
            ) from None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
