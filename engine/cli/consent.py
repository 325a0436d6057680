"""`cxflow customers consent`: see and change a customer's consent per channel."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from connectors.registry import default_registry
from engine.cli.runtime import open_store, out
from engine.errors import ConsentError
from engine.privacy.consent import ALL_CHANNELS, check_channel, decide, parse_policy, policy_for
from engine.settings import Settings


class ConsentUsageError(typer.BadParameter):
    """A channel or flag combination the command cannot use."""


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
    store = open_store(settings)
    try:
        if target is not None and subscribed is not None:
            changed = store.set_consent(customer, target, subscribed, "cli")
            what = "every channel" if target == ALL_CHANNELS else target
            state = "subscribed to" if subscribed else "unsubscribed from"
            note = "" if changed else " (already)"
            out.print(f"{escape(customer)} {state} {escape(what)}{note}")
            return
        records = store.consents(customer)
    finally:
        store.dispose()
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
