"""Telling an outage from a poison input, and describing a failure without its data.

When routing an event fails, either something cxflow needs is down (Temporal, the
database: nobody's fault, retry later without counting it against the event) or the
event itself cannot be routed (a value the store refuses, a journey that cannot
start: count it, retry with backoff, park it in the end). Deciding needs the error's
type, never its text; where the type says nothing (the Temporal client's bridge
reports a refused connection as a plain ``RuntimeError``), ask Temporal whether it
answers.

:func:`describe` gives the short reason that is stored with a failed event and logged:
the error's type and code, never its message, which can quote the event's data (a
database error repeats the SQL and its values).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from dsl.errors import CxflowError, UnavailableError

_UNAVAILABLE_RPC = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
}
HEALTH_TIMEOUT_SECONDS = 2.0


def is_outage(error: BaseException) -> bool | None:
    """True: a service is down; False: this input failed; None: the type cannot tell."""
    if isinstance(error, UnavailableError | TimeoutError | ConnectionError):
        return True
    if isinstance(error, RPCError):
        return error.status in _UNAVAILABLE_RPC
    if isinstance(error, OperationalError | InterfaceError | DisconnectionError):
        return True  # connection lost, database locked, statement timeout
    if type(error) is RuntimeError:
        return None  # the bridge's "failed client connect", or a bug: ask Temporal
    return False


async def temporal_answers(client: Client) -> bool:
    """Whether Temporal answers a health check within a couple of seconds."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            return await client.service_client.check_health()
    except Exception:  # any failure to answer is an answer
        return False


async def is_outage_now(error: BaseException, client: Client) -> bool:
    """:func:`is_outage`, asking Temporal when the error's type cannot tell."""
    outage = is_outage(error)
    if outage is None:
        return not await temporal_answers(client)
    return outage


def describe(error: BaseException) -> str:
    """A short reason for logs and the store: type and code, never the data."""
    if isinstance(error, CxflowError):
        return f"{error.code}: {error.message}"[:300]
    if isinstance(error, DBAPIError) and error.orig is not None:
        original = error.orig
        state = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
        suffix = f" ({state})" if state else ""
        return f"database refused the event: {type(original).__name__}{suffix}"
    if isinstance(error, RPCError):
        return f"Temporal refused: {error.status.name if error.status else 'unknown'}"
    return f"{type(error).__name__} while routing"
