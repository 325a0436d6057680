"""The official Segment and RudderStack SDKs, unchanged, against the real event API."""

from __future__ import annotations

from tests.api.conftest import api  # noqa: F401
from tests.runtime.conftest import engine, receiver  # noqa: F401
