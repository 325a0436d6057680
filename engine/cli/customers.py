"""`cxflow customers consent|erase`: a customer's consent per channel, and erasure.

The profile commands (show, timeline, search, export, merges) are in
:mod:`engine.cli.profiles`, registered on the same ``customers_app``.
"""

from __future__ import annotations

import asyncio
import difflib
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from connectors.errors import ConnectorPluginError
from connectors.registry import ConnectorRegistry, default_registry
from engine.cli.context import open_store
from engine.cli.output import err, out
from engine.errors import ConsentError
from engine.privacy.consent import ALL_CHANNELS, check_channel, decide, parse_policy, policy_for
from engine.privacy.erasure import ErasureReport, erase_customer
from engine.runtime.temporal import connect
from engine.settings import Settings

customers_app = typer.Typer(help="Customers: their data and privacy.", no_args_is_help=True)


class ConsentUsageError(typer.BadParameter):
    """A channel or flag combination the command cannot use (click reports it, exit 2)."""


@customers_app.command("consent")
def customers_consent(
    customer: Annotated[str, typer.Argument(help="The customer id (userId).")],
    channel: Annotated[
        str | None,
        typer.Option(help="The channel to change (email, sms, social, ...; `all` for every one)."),
    ] = None,
    subscribed: Annotated[
        bool | None,
        typer.Option(
            "--on/--off",
            help="Subscribe (--on) or unsubscribe (--off) the customer; without it, show.",
        ),
    ] = None,
) -> None:
    """Show a customer's consent per channel, or change it with --channel and --on/--off.

    Sends without consent are skipped (message log: skipped, reason no_consent) from
    the next send on, in every journey. The policy of each channel (opt-out, opt-in or
    none) comes from CXFLOW_CONSENT_POLICY.
    """
    settings = Settings.from_env()
    if subscribed is not None and channel is None:
        raise ConsentUsageError("say which channel: --channel email (or --channel all)")
    if subscribed is None and channel is not None:
        raise ConsentUsageError("add --on or --off to change the channel's consent")
    target = None
    if channel is not None:
        try:
            target = ALL_CHANNELS if channel.strip().lower() == "all" else check_channel(channel)
        except ConsentError as error:
            raise ConsentUsageError(str(error)) from None
        installed = default_registry().channels()
        if target != ALL_CHANNELS and target not in installed:
            close = difflib.get_close_matches(target, sorted(installed), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConsentUsageError(
                f"no installed connector has a channel '{target}': {hint}the channels are "
                f"{', '.join(sorted(installed))}, or `all` for every one"
            )
    with open_store(settings) as store:
        if target is not None and subscribed is not None:
            changed = store.set_consent(customer, target, subscribed, "cli")
            what = "every channel" if target == ALL_CHANNELS else target
            state = "subscribed to" if subscribed else "unsubscribed from"
            note = "" if changed else " (already)"
            out.print(f"{escape(customer)} {state} {escape(what)}{note}")
            return
        records = store.consents(customer)
    policies = parse_policy(settings.consent_policy)
    channels = sorted(
        {*default_registry().channels(), *(r.channel for r in records)} - {ALL_CHANNELS}
    )
    table = Table("channel", "policy", "sends", "decided by", "since")
    for name in channels:
        own = [r for r in records if r.channel in (name, ALL_CHANNELS)]
        decision = decide(policy_for(policies, name), name, own)
        record = decision.decided_by
        decided, since = "", ""
        if record is not None:
            scope = " (every channel)" if record.channel == ALL_CHANNELS else ""
            decided = f"{record.source}{scope}"
            since = record.updated_at.isoformat(timespec="seconds")
        table.add_row(name, decision.policy, "yes" if decision.allowed else "no", decided, since)
    out.print(table)


@customers_app.command("erase")
def customers_erase(
    customer: Annotated[str, typer.Argument(help="The customer id (userId) to erase.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data everywhere, running journeys included.

    Running journeys are terminated and their Temporal histories deleted; the
    profile, events and segment memberships are deleted; journey and experiment
    figures keep the runs under a random pseudonym. It cannot be undone.
    """
    if not yes and not typer.confirm(
        f"Erase every trace of customer {customer!r}? This cannot be undone", err=True
    ):
        raise typer.Exit(1)
    report = asyncio.run(_erase(Settings.from_env(), customer))
    for workflow_id in report.terminated:
        out.print(f"terminated {escape(workflow_id)}")
    out.print(
        f"deleting {report.histories_deleted} workflow histories "
        "(Temporal finishes in the background, usually within a minute)"
    )
    for table, count in report.store.deleted.items():
        out.print(f"deleted {count} {table} row(s)")
    for table, count in report.store.pseudonymised.items():
        out.print(f"kept {count} {table} row(s) as {report.store.pseudonym}")
    for connector, count in report.forgotten.items():
        out.print(f"removed {count} record(s) kept by the {connector} connector")
    out.print(f"erased {escape(customer)}")


async def _erase(settings: Settings, customer: str) -> ErasureReport:
    # A connector plugin that fails to load must not block erasure: the built-ins then.
    try:
        connectors = default_registry()
    except ConnectorPluginError as error:
        err.print(f"[yellow]{escape(str(error))}: erasing with the built-in connectors only[/]")
        connectors = ConnectorRegistry(entry_points=False)
    with open_store(settings) as store:
        return await erase_customer(await connect(settings), store, customer, connectors)
