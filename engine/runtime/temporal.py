"""The Temporal client every cxflow process uses: pydantic payloads, one clear error."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from engine.errors import TemporalUnavailableError
from engine.settings import Settings


async def connect(settings: Settings) -> Client:
    """A client that speaks pydantic, as workflows and activities expect.

    :raises TemporalUnavailableError: nothing answers at ``settings.temporal_address``.
    """
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            data_converter=pydantic_data_converter,
        )
    except Exception as error:  # the SDK raises RuntimeError and friends for every failure
        raise TemporalUnavailableError(
            f"cannot reach Temporal at {settings.temporal_address} ({error}): start it "
            "(`cxflow dev` runs one), or set CXFLOW_TEMPORAL_ADDRESS"
        ) from None
