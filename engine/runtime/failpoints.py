"""Named points where a fault test may kill this process, to prove what survives it.

``CXFLOW_FAILPOINTS=router.before_mark_routed`` (a comma-separated list of names) makes
the process end at once, with SIGKILL, the first time it reaches that point, as a
crash, an OOM kill or a pulled plug would: no ``finally`` runs, nothing is flushed.
The variable is read once, when this module is imported; unset, every failpoint is
one set lookup. Production never sets it; the fault tests in ``tests/faults`` do.

Failpoints (grep ``failpoint(`` for the list):

* ``router.before_mark_routed``: the event's runs are started and signalled, and it
  is not yet marked routed (the reroute must not start them again).
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(
    name.strip() for name in os.environ.get("CXFLOW_FAILPOINTS", "").split(",") if name.strip()
)


def failpoint(name: str) -> None:
    """Die here (SIGKILL) if the environment armed ``name``; otherwise do nothing."""
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
