"""What happened to sent messages (``message_engagement``) and the addresses nothing more is
sent to (``suppressions``).

Engagement rows are written by :meth:`engine.ingest.intake.Intake.engagement` (a provider's
webhook, cxflow's own click and open tracking) and read by the reports: per step, per
channel, per customer. Suppressions are written after a hard bounce or a complaint (and by
an operator), and read by every send (:meth:`engine.runtime.activities.JourneyActivities.
deliver`).

A suppression is keyed by the SHA-256 of the address, never the address: it must outlive
the customer's erasure (a complaint stays a complaint), and a hash keeps no personal data
while still matching the same address when it comes back.
"""

from __future__ import annotations

import builtins
import hashlib
from datetime import datetime
from typing import Any, cast, get_args

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from connectors.inbound import EngagementKind
from engine.errors import StoreError
from engine.store.database import (
    Database,
    _aware,
    _check_status,
    _in_period,
    _json_object,
    _now,
    _rowcount,
)
from engine.store.records import (
    SUPPRESSION_REASONS,
    EngagementRecord,
    SuppressionReason,
    SuppressionRecord,
)
from engine.store.tables import MessageEngagementRow, SuppressionRow

ENGAGEMENT_KINDS: tuple[EngagementKind, ...] = get_args(EngagementKind)
KindCounts = dict[EngagementKind, int]


def address_hash(address: str) -> str:
    """How a suppression names an address: the SHA-256 (hex) of it stripped and lower-cased.

    ``Ada@Example.com `` and ``ada@example.com`` are one address; the hash lets a send
    find the suppression without the table holding the address itself.
    """
    normalised = address.strip().lower()
    if not normalised:
        raise StoreError("a suppressed address cannot be empty: give the address itself")
    return hashlib.sha256(normalised.encode()).hexdigest()


def _engagement(row: MessageEngagementRow) -> EngagementRecord:
    return EngagementRecord.model_validate(row, from_attributes=True)


def _suppression(row: SuppressionRow) -> SuppressionRecord:
    return SuppressionRecord.model_validate(row, from_attributes=True)


def _counts(rows: Any) -> dict[str, KindCounts]:
    """``(group, kind, n)`` rows as ``{group: {kind: n}}``."""
    counts: dict[str, KindCounts] = {}
    for group, kind, n in rows:
        counts.setdefault(group, {})[cast(EngagementKind, kind)] = int(n)
    return counts


class Engagement:
    """The ``message_engagement`` table: one row per signal about a message."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def record(
        self,
        *,
        dedupe_key: str,
        message_ref: str,
        kind: EngagementKind,
        customer_id: str,
        journey_id: str,
        step_id: str,
        channel: str,
        detail: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Store one signal; False when one with this ``dedupe_key`` was stored before
        (a provider's redelivery, a double click), which changes nothing."""
        _check_status(kind, ENGAGEMENT_KINDS, "an engagement's")
        if not dedupe_key:
            raise StoreError("an engagement needs a dedupe key: the provider's event id")
        stored_detail = _json_object(detail or {}, "engagement detail")
        with self._db.writes.begin() as session:
            return self._db.insert_ignore(
                session,
                MessageEngagementRow,
                ["dedupe_key"],
                dedupe_key=dedupe_key,
                message_ref=message_ref,
                kind=kind,
                customer_id=customer_id,
                journey_id=journey_id,
                step_id=step_id,
                channel=channel,
                detail=stored_detail,
                at=_aware(at, "an engagement's time") if at is not None else _now(),
            )

    def for_customer(self, customer_id: str) -> list[EngagementRecord]:
        """The customer's signals, newest first."""
        statement = (
            select(MessageEngagementRow)
            .where(MessageEngagementRow.customer_id == customer_id)
            .order_by(MessageEngagementRow.at.desc(), MessageEngagementRow.id.desc())
        )
        with self._db.reads.begin() as session:
            return [_engagement(row) for row in session.scalars(statement)]

    def for_message(self, message_ref: str) -> list[EngagementRecord]:
        """The signals about one message, oldest first."""
        statement = (
            select(MessageEngagementRow)
            .where(MessageEngagementRow.message_ref == message_ref)
            .order_by(MessageEngagementRow.at, MessageEngagementRow.id)
        )
        with self._db.reads.begin() as session:
            return [_engagement(row) for row in session.scalars(statement)]

    def kinds_of(self, message_refs: builtins.list[str]) -> dict[str, set[EngagementKind]]:
        """Per message ref, the kinds of signal it had (a page of the message log)."""
        if not message_refs:
            return {}
        row = MessageEngagementRow
        statement = (
            select(row.message_ref, row.kind).where(row.message_ref.in_(message_refs)).distinct()
        )
        found: dict[str, set[EngagementKind]] = {}
        with self._db.reads.begin() as session:
            for ref, kind in session.execute(statement):
                found.setdefault(ref, set()).add(cast(EngagementKind, kind))
        return found

    def customer_counts(self, customer_id: str) -> KindCounts:
        """Per kind, how many of the customer's messages had at least one such signal."""
        with self._db.reads.begin() as session:
            return kind_counts(session, [customer_id])

    def step_counts(
        self, journey_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, KindCounts]:
        """Per step of the journey and per kind, the number of distinct messages with at
        least one such signal in ``[since, until)``: a message opened three times counts
        once. Steps and kinds without any signal are left out."""
        row = MessageEngagementRow
        statement = (
            select(row.step_id, row.kind, func.count(row.message_ref.distinct()))
            .where(row.journey_id == journey_id, *_in_period(row.at, since, until))
            .group_by(row.step_id, row.kind)
        )
        with self._db.reads.begin() as session:
            return _counts(session.execute(statement))

    def channel_counts(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, KindCounts]:
        """Per channel, workspace-wide, what :meth:`step_counts` counts per step."""
        row = MessageEngagementRow
        statement = (
            select(row.channel, row.kind, func.count(row.message_ref.distinct()))
            .where(*_in_period(row.at, since, until))
            .group_by(row.channel, row.kind)
        )
        with self._db.reads.begin() as session:
            return _counts(session.execute(statement))


def kind_counts(session: Session, customer_ids: list[str]) -> KindCounts:
    """Per kind, how many messages of these ids (a customer and the ids merged into them)
    had at least one such signal, in the caller's transaction."""
    row = MessageEngagementRow
    statement = (
        select(row.kind, func.count(row.message_ref.distinct()))
        .where(row.customer_id.in_(customer_ids))
        .group_by(row.kind)
    )
    return {cast(EngagementKind, k): int(n) for k, n in session.execute(statement)}


class Suppressions:
    """The ``suppressions`` table: per channel, the (hashed) addresses not to send to."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(
        self,
        channel: str,
        address: str,
        reason: SuppressionReason,
        customer_id: str | None = None,
        message_ref: str | None = None,
        source: str = "manual",
        detail: dict[str, Any] | None = None,
    ) -> SuppressionRecord:
        """Suppress the address on the channel; the stored suppression.

        Idempotent: an address suppressed already keeps its first reason, source and
        time (a complaint after a hard bounce changes nothing).
        """
        _check_status(reason, SUPPRESSION_REASONS, "a suppression's reason")
        if not channel:
            raise StoreError("a suppression needs a channel: email, sms, ...")
        hashed = address_hash(address)
        stored_detail = _json_object(detail or {}, "suppression detail")
        with self._db.writes.begin() as session:
            self._db.insert_ignore(
                session,
                SuppressionRow,
                ["channel", "address"],
                channel=channel,
                address=hashed,
                reason=reason,
                customer_id=customer_id,
                message_ref=message_ref,
                source=source,
                detail=stored_detail,
                at=_now(),
            )
            row = session.get(SuppressionRow, (channel, hashed))
            assert row is not None  # inserted, or there before
            return _suppression(row)

    def remove(self, channel: str, address: str) -> bool:
        """Lift the suppression of the address on the channel; False if there was none."""
        statement = delete(SuppressionRow).where(
            SuppressionRow.channel == channel, SuppressionRow.address == address_hash(address)
        )
        with self._db.writes.begin() as session:
            return _rowcount(session.execute(statement)) > 0

    def check(self, channel: str, address: str) -> SuppressionRecord | None:
        """The suppression of this address on this channel, if any (what a send asks)."""
        with self._db.reads.begin() as session:
            row = session.get(SuppressionRow, (channel, address_hash(address)))
            return None if row is None else _suppression(row)

    def for_customer(self, customer_id: str) -> builtins.list[SuppressionRecord]:
        """The suppressions recorded for the customer's addresses, newest first."""
        statement = (
            select(SuppressionRow)
            .where(SuppressionRow.customer_id == customer_id)
            .order_by(SuppressionRow.at.desc(), SuppressionRow.channel)
        )
        with self._db.reads.begin() as session:
            return [_suppression(row) for row in session.scalars(statement)]

    def list(self, channel: str | None = None) -> builtins.list[SuppressionRecord]:
        """Every suppression (on the channel), newest first."""
        statement = select(SuppressionRow)
        if channel is not None:
            statement = statement.where(SuppressionRow.channel == channel)
        statement = statement.order_by(
            SuppressionRow.at.desc(), SuppressionRow.channel, SuppressionRow.address
        )
        with self._db.reads.begin() as session:
            return [_suppression(row) for row in session.scalars(statement)]
