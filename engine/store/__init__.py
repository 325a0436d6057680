"""The customer-data store (see :mod:`engine.store.facade`); callers import from here.

Modules: ``facade`` (the ``Store``), ``database`` (engine, sessions, ``StoreError``),
``records`` (what the store returns), one repository per group of tables
(``customers``, ``events``, ``journeys``, ``runs``, ``messages``, ``experiments``,
``keys``, ``segments``, ``consent``, ``erasure``), ``tables`` and ``migrate``.
"""

from engine.errors import StoreError
from engine.store.database import SQLITE_BUSY_TIMEOUT_MS
from engine.store.erasure import ERASED_PREFIX, ERASED_TABLES, PSEUDONYMISED_TABLES
from engine.store.facade import Store
from engine.store.records import (
    COMPLETED_MESSAGE_STATUSES,
    FINISHED_RUN_STATUSES,
    KEY_SCOPES,
    WRITE_KEY_PREFIX,
    ConversionRecord,
    CustomerRecord,
    ErasureRecord,
    EventRecord,
    FailedEventRecord,
    GroupRecord,
    IncomingCall,
    JourneyControlRecord,
    JourneyStatus,
    JourneyVersionRecord,
    KeyScope,
    MergeRecord,
    MessageRecord,
    MessageStatus,
    Record,
    RunRecord,
    RunStatus,
    StepFunnelRecord,
    StoredCall,
    WriteKeyRecord,
)

__all__ = [
    "COMPLETED_MESSAGE_STATUSES",
    "ERASED_PREFIX",
    "ERASED_TABLES",
    "FINISHED_RUN_STATUSES",
    "KEY_SCOPES",
    "PSEUDONYMISED_TABLES",
    "SQLITE_BUSY_TIMEOUT_MS",
    "WRITE_KEY_PREFIX",
    "ConversionRecord",
    "CustomerRecord",
    "ErasureRecord",
    "EventRecord",
    "FailedEventRecord",
    "GroupRecord",
    "IncomingCall",
    "JourneyControlRecord",
    "JourneyStatus",
    "JourneyVersionRecord",
    "KeyScope",
    "MergeRecord",
    "MessageRecord",
    "MessageStatus",
    "Record",
    "RunRecord",
    "RunStatus",
    "StepFunnelRecord",
    "Store",
    "StoreError",
    "StoredCall",
    "WriteKeyRecord",
]
