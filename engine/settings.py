"""Runtime settings from the environment, with the embedded default for `cxflow dev`.

Every process (worker, API, CLI) reads the same variables, so one `.env` or one
compose file configures them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.analytics.attribution import DEFAULT_WINDOWS, AttributionWindows, parse_windows
from engine.errors import SettingsError
from engine.privacy.consent import DEFAULT_POLICY, parse_policy

DEFAULT_DATA_DIR = Path(".cxflow")
# Signs links only in tests and examples: `cxflow api` and the worker refuse to start with it.
DEV_SECRET = "cxflow-dev-secret-change-me"


class Settings(BaseModel):
    """Where Temporal and the store are, and how hard the worker works."""

    model_config = ConfigDict(frozen=True)

    temporal_address: str = Field(default="127.0.0.1:7233")
    namespace: str = Field(default="default")
    task_queue: str = Field(default="cxflow-journeys")
    database_url: str = Field(default=f"sqlite:///{DEFAULT_DATA_DIR / 'cxflow.db'}")
    max_concurrent_activities: int = Field(default=50, ge=1)
    dev_time: bool = Field(
        default=False,
        description="Runs this process starts may have their waits ended at once with "
        "`cxflow runs skip` (cxflow dev sets it; never in production).",
    )
    max_concurrent_workflow_tasks: int = Field(default=50, ge=1)
    max_cached_workflows: int = Field(default=1000, ge=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    activity_timeout_seconds: int = Field(default=60, ge=1)
    segment_refresh_seconds: int = Field(default=900, ge=10)
    public_url: str = Field(default="http://127.0.0.1:8000")
    secret_key: str = Field(default=DEV_SECRET)
    event_max_age_days: int = Field(
        default=18_262, ge=1, description="Refuse event timestamps older than this (50 years)."
    )
    event_max_future_seconds: int = Field(
        default=21_600, ge=0, description="Refuse event timestamps further ahead (6 hours)."
    )
    trigger_max_age_seconds: int = Field(
        default=86_400,
        ge=0,
        description="An event older than this when it arrives (a backfill) is history: "
        "stored and counted by segments, but it starts and reaches no journey (1 day).",
    )
    route_max_attempts: int = Field(
        default=8, ge=1, description="Routing attempts of a failing event before it is parked."
    )
    route_retry_seconds: float = Field(
        default=5.0, gt=0, description="Delay before the first retry; it doubles each time."
    )
    global_control_percent: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="Percent of all customers (sticky, by hash) who get no journey messages "
        "at all: the global control group every journey's incremental lift is measured "
        "against (docs/analytics.md). 0 turns it off.",
    )
    track_clicks: bool = Field(
        default=True,
        description="Send the http(s) links of HTML messages through cxflow's signed "
        "redirect, which records clicks; a journey or send step's `tracking` overrides it.",
    )
    track_opens: bool = Field(
        default=False,
        description="Add an open pixel to HTML messages: off by default (it tells when and "
        "where a mail is read; Apple Mail fetches it for every message, inflating opens).",
    )
    track_link_hosts: str = Field(
        default="",
        description="Hosts tracked links may lead to besides those the templates write "
        "themselves, comma-separated (`shop.example.com,*.shop.example.com`): a link to "
        "any other host (put there by event or profile data) is sent untracked.",
    )
    attribution_windows: str = Field(
        default=DEFAULT_WINDOWS,
        description="Last-touch attribution window per channel, counted from the send or "
        "the latest open or click: channel=duration pairs, * for every other channel "
        "(engine.analytics.attribution, docs/analytics.md).",
    )
    brand_name: str = Field(
        default="cxflow",
        description="The sender's name on the pages a customer opens (survey, unsubscribe) "
        "and in the footer of the shipped emails.",
    )
    brand_address: str = Field(
        default="",
        description="The sender's postal address, shown under the brand on those pages and "
        "emails (the CAN-SPAM Act and the EU's e-commerce rules ask for one in marketing mail).",
    )
    brand_url: str = Field(
        default="",
        description="The sender's website: the brand's name links there in the shipped emails, "
        "and the survey and unsubscribe pages offer it as the way back (none when empty).",
        pattern=r"^(https?://\S+)?$",
    )
    console_session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="A console login ends this long after it began."
    )
    console_idle_minutes: float = Field(
        default=60, gt=0, description="A console login ends after this long without a page view."
    )
    test_recipients: str = Field(
        default="",
        description="Addresses the console's test sends may go to, comma-separated: exact "
        "addresses or a whole domain as `*@shop.example`. Empty: test sends are refused.",
    )
    consent_policy: str = Field(
        default=DEFAULT_POLICY,
        description="Consent per channel: opt-out, opt-in or none (see engine.privacy.consent)",
    )

    @field_validator("attribution_windows")
    @classmethod
    def _readable_windows(cls, value: str) -> str:
        parse_windows(value)  # its SettingsError names the variable and says how to write it
        return value

    def attribution(self) -> AttributionWindows:
        """The attribution windows, parsed (checked when the settings were read)."""
        return parse_windows(self.attribution_windows)

    @field_validator("consent_policy")
    @classmethod
    def _readable_policy(cls, value: str) -> str:
        parse_policy(value)  # its ConsentError (a ValueError) says how to write one
        return value

    def check_secret(self) -> None:
        """Refuse to serve links signed with the well-known default or an empty secret.

        ``cxflow dev`` generates a secret of its own; every other process that signs or
        checks links (the API, the worker) must be given one.
        """
        if not self.secret_key.strip() or self.secret_key == DEV_SECRET:
            raise SettingsError(
                "CXFLOW_SECRET_KEY is not set (or is the development default): set it to a "
                "long random value, the same for the API and every worker, e.g. "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`; it signs '
                "the unsubscribe and survey links of every message"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read CXFLOW_<FIELD> variables, e.g. CXFLOW_TEMPORAL_ADDRESS."""
        env = os.environ if environ is None else environ
        values = {
            name: env[f"CXFLOW_{name.upper()}"]
            for name in cls.model_fields
            if f"CXFLOW_{name.upper()}" in env
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"CXFLOW_{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors()
            )
            raise SettingsError(f"bad setting: {problems}") from None
