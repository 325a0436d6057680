"""ntfy push notifications for cxflow journeys: the channel ``ntfy`` and ``ntfy.notify_team``.

ntfy (https://docs.ntfy.sh/publish/) publishes a message with one HTTP request:
``POST <server>/`` with the JSON ``{"topic", "message", "title", "priority", "tags",
"click"}``; it answers the stored message as JSON (``{"id": ..., "time": ...}``).
Subscribers of the topic (its phone app, a browser) get a notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

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

DEFAULT_SERVER = "https://ntfy.sh"
TOPIC_TRAIT = "ntfy_topic"


class TeamNotice(BaseModel):
    """The ``with:`` of ``call: ntfy.notify_team``."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, description="The notification's text.")
    title: str | None = Field(default=None, description="A title above the text.")
    priority: int = Field(default=3, ge=1, le=5, description="1 (min) to 5 (urgent).")
    tags: list[str] = Field(default_factory=list, description="Tags, or emoji short codes.")


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
    )

    async def send(self, request: SendRequest) -> SendResult:
        """One message to the customer's topic; skipped when the customer has none."""
        topic = request.params.get("topic") or request.recipient.traits.get(TOPIC_TRAIT)
        if not isinstance(topic, str) or not topic:
            return SendResult(status="skipped", detail={"reason": f"no {TOPIC_TRAIT} trait"})
        message = {
            "topic": topic,
            "message": request.body or request.subject or "",
            "title": request.subject if request.body else None,
            "click": request.params.get("click"),
        }
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


@hookimpl
def cxflow_connectors() -> list[NtfyConnector]:
    return [NtfyConnector()]
