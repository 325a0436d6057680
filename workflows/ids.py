"""Workflow ids of journey runs: ``journey:<journey id>:<customer id>``, within Temporal's limit.

Temporal allows one running execution per workflow id, which is what keeps a customer
in at most one run of a journey; the production server caps ids at 255 bytes
(``limit.maxIDLength`` in deploy/temporal/dynamicconfig/cxflow.yaml, and the VARCHAR(255)
of its PostgreSQL schema). Journey ids are at most 64 characters and customer ids at most
200 bytes of UTF-8, so the plain id can reach 273 bytes. An id that would be longer than
255 bytes keeps a readable prefix of the customer id (cut at a character boundary) and
ends with ``~`` and the first 16 hex digits of the SHA-256 of the whole customer id::

    journey:<journey id>:<first bytes of the customer id>~<16 hex digits>

Ids that fit are the plain id, as they always were (runs in flight keep their ids). The
one exception: a plain id of 252 bytes or more that already ends like a hashed one
(``~`` and 16 lower-case hex digits) is hashed too, so no customer id can be chosen to
spell out another customer's hashed id and reach their run.

This module is pure (no Temporal, no I/O): the router, the erasure and the command line
all derive ids through :func:`workflow_id_for`, and read the journey back with
:func:`journey_of`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

PREFIX: Final = "journey:"
MAX_WORKFLOW_ID_BYTES: Final = 255
HASH_SEPARATOR: Final = "~"
HASH_DIGITS: Final = 16
_SUFFIX_BYTES = len(HASH_SEPARATOR) + HASH_DIGITS
# Hashed ids are MAX - 3 .. MAX bytes long (the cut loses at most 3 bytes of a character).
_HASHED_SHAPE = re.compile(rf"{re.escape(HASH_SEPARATOR)}[0-9a-f]{{{HASH_DIGITS}}}\Z")


def workflow_id_for(journey_id: str, customer_id: str) -> str:
    """The one workflow id of a journey and customer, at most 255 bytes (see the module)."""
    plain = f"{PREFIX}{journey_id}:{customer_id}"
    size = len(plain.encode("utf-8"))
    if size <= MAX_WORKFLOW_ID_BYTES and not (
        size >= MAX_WORKFLOW_ID_BYTES - 3 and _HASHED_SHAPE.search(plain)
    ):
        return plain
    head = f"{PREFIX}{journey_id}:"
    budget = max(0, MAX_WORKFLOW_ID_BYTES - len(head.encode("utf-8")) - _SUFFIX_BYTES)
    # Cut at a character boundary: a partial UTF-8 sequence at the end is dropped.
    readable = customer_id.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    digest = hashlib.sha256(customer_id.encode("utf-8")).hexdigest()[:HASH_DIGITS]
    return f"{head}{readable}{HASH_SEPARATOR}{digest}"


def journey_of(workflow_id: str) -> str | None:
    """The journey id of a journey run's workflow id (journey ids have no ``:``); else None."""
    if not workflow_id.startswith(PREFIX):
        return None
    journey, separator, _ = workflow_id[len(PREFIX) :].partition(":")
    return journey if separator and journey else None
