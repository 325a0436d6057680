"""`cxflow suppressions list|add|remove`: the addresses nothing more is sent to.

A hard bounce or a spam complaint suppresses the address on its channel by itself
(:meth:`engine.ingest.intake.Intake.engagement`); these commands let an operator see
them, suppress an address by hand, and lift a suppression (the customer fixed their
mailbox, the complaint was a mistake). Addresses are stored hashed, so the list shows
the hash and the customer, never the address: to ask about one address, name it.
:mod:`engine.cli.main` registers the app as `cxflow suppressions`.
"""

from __future__ import annotations

import difflib
import json
from typing import Annotated, cast, get_args

import typer
from rich.markup import escape
from rich.table import Table

from connectors.registry import default_registry
from engine.cli.context import open_store
from engine.cli.output import out
from engine.errors import CommandError, ConsentError, UsageError
from engine.privacy.consent import check_channel
from engine.settings import Settings
from engine.store.records import SuppressionReason, SuppressionRecord

suppressions_app = typer.Typer(
    help="Suppressed addresses: hard bounces, complaints, and those suppressed by hand.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ChannelArg = Annotated[str, typer.Argument(help="The channel: email, sms, social, ...")]
AddressArg = Annotated[
    str, typer.Argument(help="The address as sent to (any case; spaces around are ignored).")
]
REASONS: tuple[str, ...] = get_args(SuppressionReason)


def _channel(channel: str, *, installed_only: bool) -> str:
    """The channel's name; for a new suppression, one an installed connector sends on."""
    try:
        name = check_channel(channel)
    except ConsentError as error:
        raise UsageError(str(error)) from None
    if installed_only:
        channels = default_registry().channels()
        if name not in channels:
            close = difflib.get_close_matches(name, sorted(channels), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise UsageError(
                f"no installed connector has a channel '{name}': {hint}the channels are "
                f"{', '.join(sorted(channels))}"
            )
    return name


def _address(address: str) -> str:
    if not address.strip():
        raise UsageError("the address is empty: give it as the channel sends to it")
    return address


def _row(record: SuppressionRecord) -> list[str]:
    return [
        record.channel,
        record.address[:16],
        record.reason,
        record.source,
        record.customer_id or "",
        record.at.strftime("%Y-%m-%d %H:%M:%S"),
    ]


def _print_json(records: list[SuppressionRecord]) -> None:
    out.print_json(json.dumps([r.model_dump(mode="json") for r in records]))


@suppressions_app.command("list")
def suppressions_list(
    channel: Annotated[str | None, typer.Option(help="Only this channel's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every suppression, newest first: channel, address hash, reason, source, customer."""
    name = _channel(channel, installed_only=False) if channel is not None else None
    with open_store(Settings.from_env()) as store:
        records = store.suppressions.list(name)
    if as_json:
        _print_json(records)
        return
    if not records:
        out.print("no suppressed address" + (f" on {escape(name)}" if name else ""))
        return
    table = Table("channel", "address (sha-256)", "reason", "source", "customer", "since")
    for record in records:
        table.add_row(*(escape(cell) for cell in _row(record)))
    out.print(table)


@suppressions_app.command("add")
def suppressions_add(
    channel: ChannelArg,
    address: AddressArg,
    reason: Annotated[
        str, typer.Option(help=f"Why: {', '.join(REASONS)}.", show_default=True)
    ] = "manual",
    as_json: JsonFlag = False,
) -> None:
    """Suppress an address on a channel: from the next send on, nothing goes to it.

    An address suppressed already keeps its first reason.
    """
    if reason not in REASONS:
        raise UsageError(f"--reason {reason!r} is not one of {', '.join(REASONS)}")
    name = _channel(channel, installed_only=True)
    with open_store(Settings.from_env()) as store:
        before = store.suppressions.check(name, _address(address))
        why = cast(SuppressionReason, reason)
        record = store.suppressions.add(name, address, why, source="cli")
    if as_json:
        _print_json([record])
    elif before is not None:
        out.print(
            f"already suppressed on {escape(name)}: {record.reason} "
            f"({escape(record.source)}, since {record.at.strftime('%Y-%m-%d %H:%M:%S')})"
        )
    else:
        out.print(f"suppressed the address on {escape(name)} ({record.reason})")


@suppressions_app.command("remove")
def suppressions_remove(
    channel: ChannelArg, address: AddressArg, as_json: JsonFlag = False
) -> None:
    """Lift the suppression of an address on a channel: sends to it go again."""
    name = _channel(channel, installed_only=False)
    with open_store(Settings.from_env()) as store:
        record = store.suppressions.check(name, _address(address))
        if record is None:
            raise CommandError(
                f"the address is not suppressed on {name}: see `cxflow suppressions list "
                f"--channel {name}` (or check the address's spelling)",
                code="suppression_not_found",
            )
        store.suppressions.remove(name, address)
    if as_json:
        _print_json([record])
    else:
        out.print(f"lifted the suppression of the address on {escape(name)} ({record.reason})")
