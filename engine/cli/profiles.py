"""`cxflow customers show|timeline|search|export|merges|merge|unmerge`: one customer, whole.

What ``GET /v1/customers/...`` answers, rendered for a terminal (or as JSON with
``--json``), and the operator's hand on identity merges. :mod:`engine.cli.main`
registers them under `cxflow customers`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.context import open_store
from engine.cli.output import err, out
from engine.errors import CommandError
from engine.segments.evaluation import SegmentEngine
from engine.settings import Settings
from engine.store import Store
from engine.store.engagement import ENGAGEMENT_KINDS
from engine.store.records import (
    TIMELINE_KINDS,
    CustomerProfile,
    CustomerValue,
    MergeRecord,
    TimelinePage,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
CustomerArg = Annotated[
    str, typer.Argument(help="The customer id (userId), or an id merged into them.")
]


def _missing(customer: str) -> CommandError:
    return CommandError(
        f"no customer {customer!r}: look for them with `cxflow customers search TEXT`",
        code="customer_not_found",
    )


def _when(moment: object) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if hasattr(moment, "strftime") else ""


def customers_show(customer: CustomerArg, as_json: JsonFlag = False) -> None:
    """The customer's profile: traits, identities, groups, segments, consents, experiments,
    journeys (status and step), survey answers, merges and lifetime figures."""
    with open_store(Settings.from_env()) as store:
        profile = store.profiles.profile(customer)
    if profile is None:
        raise _missing(customer)
    if as_json:
        out.print_json(profile.model_dump_json())
        return
    _print_profile(profile)


def _print_profile(profile: CustomerProfile) -> None:
    life = profile.lifetime
    out.print(
        f"[bold]{escape(profile.id)}[/]" + (f"  ({profile.timezone})" if profile.timezone else "")
    )
    out.print(
        f"first seen {_when(life.first_seen)}, last seen {_when(life.last_seen) or '-'}; "
        f"{life.events} events, {life.page_views} page views, {life.orders} orders, "
        f"revenue {life.revenue:g}, {life.messages_sent} messages sent"
    )
    out.print(f"lifetime value: {escape(describe_value(profile.value))}")
    others = [f"{i.id} ({i.kind})" for i in profile.identities[1:]]
    if others:
        out.print("also known as: " + escape(", ".join(others)))
    traits = Table("trait", "value", title="traits")
    for name, value in sorted(profile.traits.items()):
        traits.add_row(escape(name), escape(json.dumps(value, ensure_ascii=False)))
    out.print(traits)
    if profile.groups:
        out.print(
            "groups: "
            + escape(
                ", ".join(
                    f"{g.id} {json.dumps(g.traits, ensure_ascii=False)}" for g in profile.groups
                )
            )
        )
    if profile.segments:
        out.print("segments: " + escape(", ".join(s.segment for s in profile.segments)))
    if profile.consents:
        out.print(
            "consent: "
            + escape(
                ", ".join(
                    f"{c.channel} {'yes' if c.subscribed else 'no'} ({c.source})"
                    for c in profile.consents
                )
            )
        )
    if profile.suppressions:
        out.print(
            "suppressed: "
            + escape(
                ", ".join(
                    f"{s.channel} address {s.reason} ({s.source}, {_when(s.at)})"
                    for s in profile.suppressions
                )
            )
        )
    if profile.engagement:
        counts = [(k, profile.engagement[k]) for k in ENGAGEMENT_KINDS if k in profile.engagement]
        out.print("messages " + ", ".join(f"{kind} {n}" for kind, n in counts))
    if profile.experiments:
        out.print(
            "experiments: "
            + escape(", ".join(f"{a.experiment}={a.variant}" for a in profile.experiments))
        )
    if profile.journeys:
        runs = Table(
            "journey", "status", "step", "variant", "started", "ended / reason", title="journeys"
        )
        for run in profile.journeys:
            ended = _when(run.ended_at) + (f" {run.exit_reason}" if run.exit_reason else "")
            runs.add_row(
                run.journey_id,
                run.status,
                run.current_step or "",
                run.variant or "",
                _when(run.started_at),
                ended,
            )
        out.print(runs)
    for answer in profile.surveys[:5]:
        out.print(
            f"survey {escape(answer.survey or '')} score {answer.score} {_when(answer.at)}"
            + (f": {escape(answer.comment)}" if answer.comment else "")
        )
    for merge in profile.merges[:5]:
        out.print(f"merge #{merge.id}: {_merge_line(merge)}")


def describe_value(value: CustomerValue) -> str:
    """The lifetime figures on one line: `2 orders, revenue 50.5 EUR, AOV 25.25, ...`."""
    if value.orders == 0:
        return "no orders"
    money = f" {value.currency}" if value.currency else ""
    parts = [
        f"{value.orders} orders",
        f"revenue {value.revenue:g}{money}",
        f"AOV {value.aov:g}{money}" if value.aov is not None else "",
        f"first {_when(value.first_order_at)}",
        f"last {_when(value.last_order_at)}",
    ]
    if value.days_between_orders is not None:
        parts.append(f"every {value.days_between_orders:g} days")
    parts.append("repeat buyer" if value.repeat else "one order so far")
    return ", ".join(part for part in parts if part)


def customers_value(
    customer: Annotated[
        str | None, typer.Argument(help="The customer id; leave out with --rebuild.")
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Recompute the figures from the stored order events (every customer's "
            "without an id): once, for events stored before the figures were kept.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """A customer's lifetime value figures (orders, revenue, AOV, first and last order,
    days between orders, repeat), kept current from their `order.completed` events."""
    with open_store(Settings.from_env()) as store:
        if customer is None:
            if not rebuild:
                raise CommandError(
                    "name a customer, or recompute everyone's figures with "
                    "`cxflow customers value --rebuild`",
                    code="customer_missing",
                )
            done = store.customer_value.rebuild_all()
            out.print(f"recomputed the lifetime figures of {done} customer(s)")
            return
        if store.profiles.profile(customer, runs=0) is None:
            raise _missing(customer)
        value = (
            store.customer_value.recompute(customer)
            if rebuild
            else store.customer_value.get(customer)
        )
    if as_json:
        out.print_json(value.model_dump_json())
        return
    out.print(f"[bold]{escape(customer)}[/]: {escape(describe_value(value))}")


def _merge_line(merge: MergeRecord) -> str:
    line = f"{merge.from_id} -> {merge.into_id} {merge.status} ({merge.cause}, {_when(merge.at)})"
    return escape(line + (f": {merge.reason}" if merge.reason else ""))


def customers_timeline(
    customer: CustomerArg,
    kind: Annotated[
        list[str] | None,
        typer.Option(help=f"Only this kind (repeatable): {', '.join(TIMELINE_KINDS)}."),
    ] = None,
    channel: Annotated[
        str | None, typer.Option(help="Only messages and consent of this channel.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries per page.", min=1, max=1000)] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="Start after this cursor (printed last).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Everything that happened to or by the customer, newest first."""
    with open_store(Settings.from_env()) as store:
        page = _timeline(store, customer, kind, channel, limit, cursor)
    if as_json:
        out.print_json(page.model_dump_json())
        return
    table = Table("when", "kind", "what", "channel")
    for entry in page.entries:
        table.add_row(_when(entry.at), entry.kind, escape(entry.title), entry.channel or "")
    out.print(table)
    if page.next_cursor:
        err.print(f"older entries: --cursor {page.next_cursor}")


def _timeline(
    store: Store,
    customer: str,
    kinds: list[str] | None,
    channel: str | None,
    limit: int,
    cursor: str | None,
) -> TimelinePage:
    page = store.timelines.timeline(
        customer, cursor=cursor, limit=limit, kinds=kinds, channel=channel
    )
    if page is None:
        raise _missing(customer)
    return page


def customers_search(
    query: Annotated[
        str, typer.Argument(help="An id (or its start), part of an email, or trait=value.")
    ],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Find customers by id, email or a trait's value."""
    with open_store(Settings.from_env()) as store:
        found = store.profiles.search(query, limit)
    table = Table("id", "email", "name", "updated")
    for match in found:
        table.add_row(
            escape(match.id),
            escape(match.email or ""),
            escape(match.name or ""),
            _when(match.updated_at),
        )
    out.print(table)


def customers_export(
    customer: CustomerArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Everything cxflow holds about the customer, as JSON (the right of access, GDPR
    art. 15; `cxflow customers erase` is its counterpart)."""
    with open_store(Settings.from_env()) as store:
        export = store.profiles.export(customer)
    if export is None:
        raise _missing(customer)
    text = json.dumps(export, ensure_ascii=False, indent=2)
    if output is None:
        out.print_json(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    err.print(
        f"wrote {len(export['events'])} events and the profile of {escape(customer)} to {output}"
    )


def customers_merges(
    customer: Annotated[str | None, typer.Argument(help="Only merges naming this id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Identity merges, undone merges and refused ones (two known ids, an anonymous id
    already taken), newest first."""
    with open_store(Settings.from_env()) as store:
        merges = store.identities.merges(customer, limit)
    table = Table("#", "from", "into", "status", "cause", "when", "reason")
    for merge in merges:
        table.add_row(
            str(merge.id),
            escape(merge.from_id),
            escape(merge.into_id),
            merge.status,
            merge.cause,
            _when(merge.at),
            escape(merge.reason or ""),
        )
    out.print(table)


def customers_merge(
    source: Annotated[str, typer.Argument(help="The id that joins the other (its profile goes).")],
    target: Annotated[str, typer.Argument(help="The id that stays.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Merge two customers you know are one person (cxflow never joins two known ids by
    itself). `cxflow customers unmerge` undoes it."""
    if not yes and not typer.confirm(f"Merge {source!r} into {target!r}?", err=True):
        raise typer.Exit(1)
    with open_store(Settings.from_env()) as store:
        merge = store.identities.merge(source, target)
        _recompute_segments(store, [merge.into_id])
    out.print(f"merge #{merge.id}: {_merge_line(merge)}")


def customers_unmerge(
    merge_id: Annotated[
        int, typer.Argument(help="The merge's number (`cxflow customers merges`).")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Undo a merge: each id gets back its own events, traits, consents and memberships,
    and cxflow will not join the two again by itself."""
    if not yes and not typer.confirm(f"Undo merge #{merge_id}?", err=True):
        raise typer.Exit(1)
    with open_store(Settings.from_env()) as store:
        merge = store.identities.unmerge(merge_id)
        _recompute_segments(store, [merge.from_id, merge.into_id])
    out.print(f"merge #{merge.id}: {_merge_line(merge)}")


def _recompute_segments(store: Store, customers: list[str]) -> None:
    """Re-decide every segment of the customers whose data a merge moved (memberships and
    their history only: this command does not start segment-triggered journeys)."""
    engine = SegmentEngine(store)
    definitions = engine.definitions()
    for customer in customers:
        change = engine.recompute(customer, definitions)
        for name in sorted(change.entered):
            out.print(f"{escape(customer)} entered segment {escape(name)}")
        for name in sorted(change.left):
            out.print(f"{escape(customer)} left segment {escape(name)}")
