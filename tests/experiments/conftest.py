"""Experiment tests that run journeys use the runtime's fixtures."""

from tests.runtime.conftest import engine, receiver

__all__ = ["engine", "receiver"]
