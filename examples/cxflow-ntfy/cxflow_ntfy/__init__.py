"""ntfy push notifications for cxflow journeys: the channel ``ntfy`` and ``ntfy.notify_team``.

ntfy (https://docs.ntfy.sh/publish/) publishes a message with one HTTP request:
``POST <server>/`` with the JSON ``{"topic", "message", "title", "priority", "tags",
"click", "actions"}``; it answers the stored message as JSON (``{"id": ..., "time":
...}``). Subscribers of the topic (its phone app, a browser) get a notification.

Action buttons come back as events: a send with ``params: {actions: [{label: "Yes",
action: "confirm"}]}`` adds ntfy ``http`` buttons (https://docs.ntfy.sh/publish/#send-http-request)
whose URL is this plugin's route in the event API, ``POST /v1/ntfy/actions/<token>``
(the ``cxflow_routes`` hook). The token, signed with ``CXFLOW_NTFY_SECRET``
(:class:`connectors.signing.LinkSigner`), names the customer, the action and the send;
a tap is submitted as the event ``ntfy.action_clicked`` (``properties.action``), which
a journey waits for. Its message id comes from the token: a second tap changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError

from connectors import (
    ActionSpec,
    CallRequest,
    HttpConnector,
    PermanentConnectorError,
    SendRequest,
    SendResult,
    Setting,
    hookimpl,
)
from connectors.http_routes import error_response, error_responses
from connectors.inbound import InboundRejectedError, InboundTrack, Intake
from connectors.signing import ExpiredLinkError, InvalidLinkError, LinkSigner

DEFAULT_SERVER = "https://ntfy.sh"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
TOPIC_TRAIT = "ntfy_topic"
ACTION_EVENT = "ntfy.action_clicked"
LINK_PURPOSE = "ntfy-action"
BUTTONS_LAST = timedelta(days=30)  # a tap after that answers 410


class TeamNotice(BaseModel):
    """The ``with:`` of ``call: ntfy.notify_team``."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, description="The notification's text.")
    title: str | None = Field(default=None, description="A title above the text.")
    priority: int = Field(default=3, ge=1, le=5, description="1 (min) to 5 (urgent).")
    tags: list[str] = Field(default_factory=list, description="Tags, or emoji short codes.")


class ActionButton(BaseModel):
    """One button of ``params: {actions: [...]}`` (ntfy shows at most three)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=40, description="The button's text.")
    action: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
        description="What the event says was tapped: `properties.action`.",
    )


_BUTTONS = TypeAdapter(list[ActionButton])


class ActionLink(BaseModel):
    """What an action button's token carries. Short names keep the URL short."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    customer_id: str = Field(alias="c", min_length=1)
    action: str = Field(alias="a")
    journey_id: str = Field(alias="j")
    idempotency_key: str = Field(alias="k")

    @property
    def message_id(self) -> str:
        """One per send and action: the same on every tap of the same button."""
        digest = hashlib.sha256(f"{self.idempotency_key}\x1f{self.action}".encode()).hexdigest()
        return f"ntfy-action:{digest[:40]}"


class ActionRecorded(BaseModel):
    """``recorded``: this tap is the event; ``already_recorded``: an earlier tap was."""

    status: Literal["recorded", "already_recorded"]
    action: str


class Published(BaseModel):
    """What ``save_as`` keeps: ntfy's id of the message and when it was published."""

    id: str
    time: int = Field(description="Unix seconds.")


class NtfyConnector(HttpConnector):
    """Publishes to ntfy topics: the customer's on the ``ntfy`` channel, the team's by action."""

    name = "ntfy"
    description = "Push notifications through ntfy (https://ntfy.sh or your own server)."
    channels = ("ntfy",)
    actions: Mapping[str, ActionSpec] = {
        "notify_team": ActionSpec(
            name="notify_team",
            description="Publish a notification to the team's topic (CXFLOW_NTFY_TEAM_TOPIC).",
            input_model=TeamNotice,
            output_model=Published,
        )
    }
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(key="SERVER", description="The ntfy server", default=DEFAULT_SERVER),
        Setting(key="TOKEN", description="An access token for protected topics", secret=True),
        Setting(key="TEAM_TOPIC", description="The topic ntfy.notify_team publishes to"),
        Setting(key="SECRET", description="Signs action buttons' links", secret=True),
        Setting(
            key="PUBLIC_URL",
            description="Where ntfy reaches the event API (action buttons)",
            default=DEFAULT_PUBLIC_URL,
        ),
    )

    async def send(self, request: SendRequest) -> SendResult:
        """One message to the customer's topic; skipped when the customer has none."""
        topic = request.params.get("topic") or request.recipient.traits.get(TOPIC_TRAIT)
        if not isinstance(topic, str) or not topic:
            return SendResult(status="skipped", detail={"reason": f"no {TOPIC_TRAIT} trait"})
        message: dict[str, Any] = {
            "topic": topic,
            "message": request.body or request.subject or "",
            "title": request.subject if request.body else None,
            "click": request.params.get("click"),
        }
        if "actions" in request.params:
            message["actions"] = self.buttons(request.params["actions"], request)
        published = await self.publish(message, request.idempotency_key)
        return SendResult(status="sent", provider_message_id=published.id)

    async def run_action(
        self,
        action: ActionSpec,
        inputs: BaseModel | dict[str, JsonValue],
        request: CallRequest,
    ) -> BaseModel | Mapping[str, Any]:
        assert isinstance(inputs, TeamNotice)  # Connector.call validated `with:` already
        topic = self.require_setting("TEAM_TOPIC")
        return await self.publish(
            {"topic": topic, **inputs.model_dump(exclude_none=True)}, request.idempotency_key
        )

    def buttons(self, value: JsonValue, request: SendRequest) -> list[dict[str, Any]]:
        """ntfy ``http`` actions that POST a signed link back to the event API."""
        try:
            buttons = _BUTTONS.validate_python(value)
        except ValidationError as error:
            raise PermanentConnectorError(
                f"ntfy: params.actions must be a list of {{label, action}} ({error})",
                connector=self.name,
            ) from error
        signer = LinkSigner(self.require_setting("SECRET"), LINK_PURPOSE)
        public_url = (self.setting("PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")
        return [
            {
                "action": "http",
                "label": button.label,
                "url": f"{public_url}/v1/ntfy/actions/"
                + signer.sign(
                    ActionLink(
                        customer_id=request.recipient.customer_id,
                        action=button.action,
                        journey_id=request.journey_id,
                        idempotency_key=request.idempotency_key,
                    ).model_dump(by_alias=True)
                ),
                "method": "POST",
                "clear": True,
            }
            for button in buttons
        ]

    async def publish(self, message: dict[str, Any], idempotency_key: str) -> Published:
        """POST the message; errors are mapped from the status (429 and 5xx are retried)."""
        headers: dict[str, str] = {}
        token = self.setting("TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        server = (self.setting("SERVER") or DEFAULT_SERVER).rstrip("/")
        response = await self.http.request(
            "POST",
            f"{server}/",
            idempotency_key=idempotency_key,
            headers=headers,
            json={key: value for key, value in message.items() if value is not None},
        )
        try:
            return Published.model_validate(response.json())
        except ValueError as error:
            raise PermanentConnectorError(
                f"ntfy: {server} did not answer like an ntfy server ({error}): "
                f"check {self.config.variable('SERVER')}",
                connector=self.name,
            ) from error


async def action_clicked(intake: Intake, token: str) -> Any:
    """Submit one tap of an action button as ``ntfy.action_clicked``; 4xx for a bad link."""
    secret = NtfyConnector().setting("SECRET")  # read per request, never at import
    if not secret:
        return error_response(
            503,
            "ntfy action buttons are not set up on this server: set CXFLOW_NTFY_SECRET",
            code="ntfy_not_configured",
        )
    signer = LinkSigner(secret, LINK_PURPOSE)
    try:
        link = ActionLink.model_validate(
            signer.verify(token, max_age=int(BUTTONS_LAST.total_seconds()))
        )
    except ExpiredLinkError as error:
        return error_response(410, "this button has expired: nothing was recorded", code=error.code)
    except (InvalidLinkError, ValidationError):
        return error_response(404, "not a button this server made", code="link_invalid")
    call = InboundTrack(
        customer_id=link.customer_id,
        event=ACTION_EVENT,
        message_id=link.message_id,  # from the token: a second tap is harmless
        properties={"action": link.action, "journey_id": link.journey_id},
    )
    try:
        [new] = await intake.submit([call], source="ntfy")
    except InboundRejectedError as error:
        return error_response(400, str(error), code=error.code)
    return ActionRecorded(status="recorded" if new else "already_recorded", action=link.action)


@hookimpl
def cxflow_connectors() -> list[NtfyConnector]:
    return [NtfyConnector()]


@hookimpl
def cxflow_routes(intake: Intake) -> list[APIRouter]:
    router = APIRouter(tags=["ntfy"])

    @router.post(
        "/v1/ntfy/actions/{token}",
        summary="An ntfy action button was tapped",
        response_model=ActionRecorded,
        responses=error_responses(
            {
                404: "Not a button this server made: cut short or altered.",
                410: "The button has expired.",
                503: "Action buttons are not set up (CXFLOW_NTFY_SECRET).",
            }
        ),
    )
    async def ntfy_action(token: str) -> Any:
        """Record the tap as the customer's `ntfy.action_clicked` event (the first tap wins)."""
        return await action_clicked(intake, token)

    return [router]
