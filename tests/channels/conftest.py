"""Every channel end to end: the engine with every installed connector (see tests/plugins)."""

from __future__ import annotations

from tests.plugins.conftest import installed_engine, ntfy, receiver  # noqa: F401
