"""Analytics tests read what real runs wrote: the runtime's `engine` fixture, shared here."""

from tests.runtime.conftest import engine, receiver

__all__ = ["engine", "receiver"]
