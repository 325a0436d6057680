"""Identity resolution: the ids of one person joined into one profile, and undone on request.

A visitor browses under an ``anonymousId``; a call that names both that id and a
``userId`` (identify, or any call made after login), or an ``alias`` call, joins the
anonymous profile into the known one. The rules, written down in docs/api.md:

- only an *anonymous* id is merged automatically: one no call ever sent as ``userId``.
  Two known ids are never joined by a call (a shared computer must not join two
  people); the attempt is recorded as ``refused`` for an operator, who may merge them
  with ``cxflow customers merge``. An ``alias`` to a user id that has no profile yet
  is a rename and does merge;
- an anonymous id already joined to one customer stays there (merge protection);
- the merged profile takes the anonymous visitor's events, traits it does not have
  itself, segment and group memberships, experiment assignments it has none for, and
  each channel's consent resolved to the most restrictive of the two;
- a merge keeps a snapshot of what it changed, so ``cxflow customers unmerge`` can
  undo it; an undone pair is never joined automatically again.

The merged-away id keeps a row with ``merged_into`` set: calls naming it and journeys
still running under it read the surviving profile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from engine.errors import StoreError
from engine.store.customer_value import recompute as recompute_value
from engine.store.customers import Customers
from engine.store.database import Database, _now
from engine.store.records import MergeRecord
from engine.store.tables import (
    ConsentChangeRow,
    ConsentRow,
    CustomerMergeRow,
    CustomerRow,
    EventRow,
    ExperimentAssignmentRow,
    GroupMembershipRow,
    SegmentChangeRow,
    SegmentMembershipRow,
)

MERGE_CAUSES = ("identify", "alias", "call", "operator")


def _merge(row: CustomerMergeRow) -> MergeRecord:
    return MergeRecord.model_validate(row, from_attributes=True)


class Identities:
    """The ``customer_merges`` table and ``customers.merged_into``."""

    def __init__(self, database: Database, customers: Customers) -> None:
        self._db = database
        self._customers = customers

    # --- resolving --------------------------------------------------------------------------

    def resolve(self, session: Session, ids: set[str]) -> dict[str, str]:
        """Whom each id stands for now: the customer it was merged into, else itself."""
        if not ids:
            return {}
        rows = session.execute(
            select(CustomerRow.id, CustomerRow.merged_into).where(CustomerRow.id.in_(ids))
        )
        merged = {customer: into for customer, into in rows if into is not None}
        return {customer: merged.get(customer, customer) for customer in ids}

    def is_known(self, session: Session, customer_id: str) -> bool:
        """Whether any call named this id as its ``userId`` (a person, not a visitor)."""
        return bool(session.scalar(select(exists().where(EventRow.user_id == customer_id))))

    # --- joining ----------------------------------------------------------------------------

    def join(
        self,
        session: Session,
        from_id: str,
        into_id: str,
        cause: str,
        message_id: str | None,
        at: datetime,
    ) -> MergeRecord | None:
        """Join ``from_id`` (an anonymous or previous id) into ``into_id`` if the rules allow.

        Returns the merge or the refusal recorded; None when nothing needed doing (the
        ids are already joined, or a refusal of this pair is already recorded).
        """
        if from_id == into_id:
            return None
        into_existed = self._has_profile(session, into_id, message_id)
        rows = {
            customer: self._customers.lock(session, customer, at)
            for customer in sorted({from_id, into_id})
        }
        source, target = rows[from_id], rows[into_id]
        if target.merged_into is not None:  # an operator merged this user id away
            target = self._customers.lock(session, target.merged_into, at)
        if source.merged_into == target.id or source.id == target.id:
            return None
        refusal = self._refusal(session, source, target, cause, into_existed)
        if refusal is not None:
            return self._refused(session, source.id, target.id, cause, message_id, refusal, at)
        return self._merge(session, source, target, cause, message_id, at)

    def _has_profile(self, session: Session, customer_id: str, message_id: str | None) -> bool:
        """Whether the id has a profile: a row, or a history of calls other than this one
        (an id known only from track calls has no row yet, but is someone)."""
        if session.get(CustomerRow, customer_id) is not None:
            return True
        history = EventRow.customer_id == customer_id
        if message_id is not None:
            history = and_(history, EventRow.message_id != message_id)
        return bool(session.scalar(select(exists().where(history))))

    def _refusal(
        self,
        session: Session,
        source: CustomerRow,
        target: CustomerRow,
        cause: str,
        target_existed: bool,
    ) -> str | None:
        if cause == "operator":
            return None
        if source.merged_into is not None:
            return (
                f"{source.id} is already joined to another customer: an anonymous id "
                "belongs to one person"
            )
        reverted = session.scalar(
            select(
                exists().where(
                    CustomerMergeRow.from_id == source.id,
                    CustomerMergeRow.into_id == target.id,
                    CustomerMergeRow.status == "reverted",
                )
            )
        )
        if reverted:
            return "an operator separated these ids (`cxflow customers unmerge`)"
        if self.is_known(session, source.id):
            if cause == "alias" and not target_existed:
                return None  # a rename to a new user id joins nobody else
            return (
                f"both {source.id} and {target.id} are known user ids: cxflow never joins "
                "two known ids by itself; merge them with `cxflow customers merge` if they "
                "are one person"
            )
        return None

    def _refused(
        self,
        session: Session,
        from_id: str,
        into_id: str,
        cause: str,
        message_id: str | None,
        reason: str,
        at: datetime,
    ) -> MergeRecord | None:
        already = session.scalar(
            select(CustomerMergeRow).where(
                CustomerMergeRow.from_id == from_id,
                CustomerMergeRow.into_id == into_id,
                CustomerMergeRow.status == "refused",
            )
        )
        if already is not None:
            return None
        row = CustomerMergeRow(
            from_id=from_id,
            into_id=into_id,
            status="refused",
            cause=cause,
            message_id=message_id,
            reason=reason,
            snapshot={},
            at=at,
        )
        session.add(row)
        session.flush()
        return _merge(row)

    def _merge(
        self,
        session: Session,
        source: CustomerRow,
        target: CustomerRow,
        cause: str,
        message_id: str | None,
        at: datetime,
    ) -> MergeRecord:
        """Move everything of ``source`` to ``target``; the snapshot says what moved."""
        from_id, into_id = source.id, target.id
        snapshot: dict[str, Any] = {
            "from_traits": dict(source.traits),
            "from_timezone": source.timezone,
            "into_traits": dict(target.traits),
            "into_timezone": target.timezone,
        }
        session.execute(
            update(EventRow).where(EventRow.customer_id == from_id).values(customer_id=into_id)
        )
        # Ids merged into the source earlier follow it: resolution stays one step.
        followers = list(
            session.scalars(select(CustomerRow.id).where(CustomerRow.merged_into == from_id))
        )
        session.execute(
            update(CustomerRow).where(CustomerRow.id.in_(followers)).values(merged_into=into_id)
        )
        snapshot["followers"] = followers
        target.traits = {**source.traits, **target.traits}
        target.timezone = target.timezone or source.timezone
        target.updated_at = at
        snapshot["consents"] = self._merge_consents(session, from_id, into_id, at)
        snapshot["segments"] = self._move_keys(
            session, SegmentMembershipRow, "segment", from_id, into_id
        )
        snapshot["groups"] = self._move_keys(
            session, GroupMembershipRow, "group_id", from_id, into_id
        )
        snapshot["experiments"] = self._move_keys(
            session, ExperimentAssignmentRow, "experiment", from_id, into_id
        )
        changes = list(
            session.scalars(
                select(SegmentChangeRow.id).where(SegmentChangeRow.customer_id == from_id)
            )
        )
        session.execute(
            update(SegmentChangeRow)
            .where(SegmentChangeRow.id.in_(changes))
            .values(customer_id=into_id)
        )
        snapshot["segment_changes"] = changes
        source.traits, source.timezone, source.merged_into = {}, None, into_id
        source.updated_at = at
        # The orders moved with the events: the figures follow them (both rows are locked).
        recompute_value(session, into_id, at)
        recompute_value(session, from_id, at)
        row = CustomerMergeRow(
            from_id=from_id,
            into_id=into_id,
            status="merged",
            cause=cause,
            message_id=message_id,
            snapshot=snapshot,
            at=at,
        )
        session.add(row)
        session.flush()
        return _merge(row)

    def _merge_consents(
        self, session: Session, from_id: str, into_id: str, at: datetime
    ) -> dict[str, Any]:
        """Each channel's decision becomes the most restrictive of the two; returns what
        each side held before, for undoing."""
        before: dict[str, Any] = {"from": {}, "into": {}}
        theirs = {r.channel: r for r in session.scalars(_consents_of(from_id))}
        ours = {r.channel: r for r in session.scalars(_consents_of(into_id))}
        for channel, row in ours.items():
            before["into"][channel] = [row.subscribed, row.source, row.updated_at.isoformat()]
        for channel, row in theirs.items():
            before["from"][channel] = [row.subscribed, row.source, row.updated_at.isoformat()]
            mine = ours.get(channel)
            if mine is None:
                session.add(
                    ConsentRow(
                        customer_id=into_id,
                        channel=channel,
                        subscribed=row.subscribed,
                        source="merge",
                        updated_at=at,
                    )
                )
            elif mine.subscribed and not row.subscribed:
                mine.subscribed, mine.source, mine.updated_at = False, "merge", at
            else:
                continue
            session.add(
                ConsentChangeRow(
                    customer_id=into_id,
                    channel=channel,
                    subscribed=row.subscribed,
                    source="merge",
                    at=at,
                )
            )
        session.execute(delete(ConsentRow).where(ConsentRow.customer_id == from_id))
        return before

    def _move_keys(
        self,
        session: Session,
        table: type[SegmentMembershipRow | GroupMembershipRow | ExperimentAssignmentRow],
        key: str,
        from_id: str,
        into_id: str,
    ) -> list[str]:
        """Move the source's rows the target has no row of the same key for; the rest of
        the source's go (memberships) or stay (assignments, which past runs refer to).
        Returns the keys moved."""
        column = getattr(table, key)
        ours = set(session.scalars(select(column).where(table.customer_id == into_id)))
        theirs = set(session.scalars(select(column).where(table.customer_id == from_id)))
        moved = sorted(theirs - ours)
        session.execute(
            update(table)
            .where(table.customer_id == from_id, column.in_(moved))
            .values(customer_id=into_id)
        )
        if table is not ExperimentAssignmentRow:
            session.execute(delete(table).where(table.customer_id == from_id))
        return moved

    # --- operators --------------------------------------------------------------------------

    def merge(self, from_id: str, into_id: str) -> MergeRecord:
        """An operator's merge of two ids (known ones too): ``from_id`` joins ``into_id``."""
        if from_id == into_id:
            raise StoreError("merge two different ids", code="merge_invalid")
        with self._db.writes.begin() as session:
            for customer in (from_id, into_id):
                row = session.get(CustomerRow, customer)
                if row is None:
                    raise StoreError(
                        f"no customer {customer!r}: check the id with `cxflow customers show`",
                        code="customer_not_found",
                    )
                if row.merged_into is not None:
                    raise StoreError(
                        f"{customer!r} was already merged into {row.merged_into!r}",
                        code="merge_invalid",
                    )
            merge = self.join(session, from_id, into_id, "operator", None, _now())
            assert merge is not None and merge.status == "merged"
            return merge

    def unmerge(self, merge_id: int) -> MergeRecord:
        """Undo a merge: each id gets back its own events, traits, consents and memberships.

        Traits the surviving profile took from the other are removed unless changed since;
        consent decisions made since the merge are kept.
        """
        with self._db.writes.begin() as session:
            merge = session.get(CustomerMergeRow, merge_id)
            if merge is None or merge.status != "merged":
                raise StoreError(
                    f"no merge {merge_id} to undo: list them with `cxflow customers merges ID`",
                    code="merge_not_found",
                )
            now = _now()
            rows = {
                customer: self._customers.lock(session, customer, now)
                for customer in sorted({merge.from_id, merge.into_id})
            }
            source, target = rows[merge.from_id], rows[merge.into_id]
            snap = merge.snapshot
            # The ids that were merged into the source go back with it (snapshot), and
            # the events that named any of them.
            followers = list(snap.get("followers", []))
            session.execute(
                update(CustomerRow)
                .where(CustomerRow.id.in_(followers), CustomerRow.merged_into == target.id)
                .values(merged_into=source.id)
            )
            own = [source.id, *followers]
            session.execute(
                update(EventRow)
                .where(
                    EventRow.customer_id == target.id,
                    or_(
                        EventRow.user_id.in_(own),
                        and_(EventRow.user_id.is_(None), EventRow.anonymous_id.in_(own)),
                    ),
                )
                .values(customer_id=source.id)
            )
            source.traits, source.timezone = snap["from_traits"], snap["from_timezone"]
            source.merged_into, source.updated_at = None, now
            traits = dict(target.traits)
            for name, value in snap["from_traits"].items():
                if name not in snap["into_traits"] and traits.get(name) == value:
                    traits.pop(name)
            target.traits, target.updated_at = traits, now
            if snap["into_timezone"] is None and target.timezone == snap["from_timezone"]:
                target.timezone = None
            self._unmerge_consents(session, source.id, target.id, snap["consents"], merge.at)
            for table, key, name in (
                (SegmentMembershipRow, SegmentMembershipRow.segment, "segments"),
                (GroupMembershipRow, GroupMembershipRow.group_id, "groups"),
                (ExperimentAssignmentRow, ExperimentAssignmentRow.experiment, "experiments"),
            ):
                session.execute(
                    update(table)
                    .where(table.customer_id == target.id, key.in_(snap[name]))
                    .values(customer_id=source.id)
                )
            session.execute(
                update(SegmentChangeRow)
                .where(SegmentChangeRow.id.in_(snap["segment_changes"]))
                .values(customer_id=source.id)
            )
            recompute_value(session, source.id, now)  # each gets back the figures of its orders
            recompute_value(session, target.id, now)
            merge.status, merge.reverted_at = "reverted", now
            session.flush()
            return _merge(merge)

    def _unmerge_consents(
        self,
        session: Session,
        from_id: str,
        into_id: str,
        before: dict[str, Any],
        merged_at: datetime,
    ) -> None:
        for channel, (subscribed, source, at) in before["from"].items():
            session.add(
                ConsentRow(
                    customer_id=from_id,
                    channel=channel,
                    subscribed=subscribed,
                    source=source,
                    updated_at=datetime.fromisoformat(at),
                )
            )
        for row in session.scalars(_consents_of(into_id)):
            if row.source != "merge" or row.updated_at != merged_at:
                continue  # decided again since the merge: that decision stands
            previous = before["into"].get(row.channel)
            if previous is None:
                session.delete(row)
            else:
                row.subscribed, row.source = previous[0], previous[1]
                row.updated_at = datetime.fromisoformat(previous[2])

    def merges(self, customer_id: str | None = None, limit: int = 100) -> list[MergeRecord]:
        """Merges and refusals, newest first; with ``customer_id``, those naming it."""
        statement = select(CustomerMergeRow).order_by(CustomerMergeRow.id.desc()).limit(limit)
        if customer_id is not None:
            statement = statement.where(
                or_(
                    CustomerMergeRow.from_id == customer_id, CustomerMergeRow.into_id == customer_id
                )
            )
        with self._db.reads.begin() as session:
            return [_merge(row) for row in session.scalars(statement)]


def _consents_of(customer_id: str) -> Any:
    return select(ConsentRow).where(ConsentRow.customer_id == customer_id)
