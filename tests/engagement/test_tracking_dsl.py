"""`tracking:` in the DSL: journey-level, overridden per send step, key by key; journeys
that do not write it compile exactly as before; the workspace defaults fill the rest."""

from __future__ import annotations

import json

import pytest

from dsl.compiled import SendNode, TrackingSpec
from dsl.loader import load_text
from engine.errors import SettingsError
from engine.runtime.tracking import Tracking, effective
from engine.settings import Settings
from tests.conftest import JOURNEYS
from tests.runtime.conftest import compiled, compiled_text
from workflows.models import RunContext, SendInput

BASE = """\
journey: news
name: News
trigger: { event: signed.up }
%s
steps:
  - id: first
    send: { channel: email, body: "Hello" }
%s
  - id: second
    send: { channel: email, body: "Again" }
"""


def sends(journey: str = "", step: str = "") -> dict[str, TrackingSpec | None]:
    result = compiled_text(BASE % (journey, step))
    return {node.id: node.tracking for node in result.steps.values() if isinstance(node, SendNode)}


def test_the_journey_key_reaches_every_send() -> None:
    assert sends("tracking: { opens: true }") == {
        "first": TrackingSpec(opens=True),
        "second": TrackingSpec(opens=True),
    }


def test_a_step_overrides_the_journey_key_by_key() -> None:
    tracked = sends(
        "tracking: { clicks: false, opens: true }",
        "    tracking: { opens: false }",
    )
    assert tracked["first"] == TrackingSpec(clicks=False, opens=False)
    assert tracked["second"] == TrackingSpec(clicks=False, opens=True)


def test_a_step_alone_tracks_only_itself() -> None:
    assert sends("", "    tracking: { clicks: false }") == {
        "first": TrackingSpec(clicks=False),
        "second": None,
    }


def test_unset_tracking_leaves_no_key_in_the_compiled_form() -> None:
    journey = compiled_text(BASE % ("", ""))
    assert "tracking" not in json.dumps(journey.model_dump())
    # nor does an empty block or a step's empty one: same form, same version
    empty = compiled_text(BASE % ("tracking: {}", "    tracking: {}"))
    assert empty.version == journey.version
    # keys left out are left out of the dump too
    partial = compiled_text(BASE % ("tracking: { opens: true }", ""))
    assert partial.model_dump()["steps"]["first"]["tracking"] == {"opens": True}
    assert partial.version != journey.version


def test_journeys_without_tracking_keep_their_versions() -> None:
    # compiled by the code from before `tracking` existed: the key must not move a version
    assert compiled_text(BASE % ("", "")).version == "v49667bfd1c05"
    # a shipped journey's version moves with its templates (last: the MJML rebuild of issue 15)
    assert compiled("win-back").version == "v086e39471d7f"
    for path in sorted(JOURNEYS.glob("*.yaml")):
        steps = compiled(path.stem).model_dump()["steps"]
        assert all("tracking" not in step for step in steps.values()), path.name


@pytest.mark.parametrize(
    ("journey", "step", "path"),
    [
        ("tracking: { clicks: 'yes' }", "", "tracking.clicks"),
        ("tracking: { opens: 1 }", "", "tracking.opens"),
        ("tracking: { click: true }", "", "tracking.click"),
        ("", "    tracking: { opens: nope }", "steps[0].tracking.opens"),
    ],
)
def test_bad_tracking_keys_are_reported_where_they_are(journey: str, step: str, path: str) -> None:
    result = load_text(BASE % (journey, step), "news.yaml")
    assert result.compiled is None
    assert [d.path for d in result.diagnostics] == [path], [d.render() for d in result.diagnostics]


def test_tracking_is_only_for_send_steps() -> None:
    text = BASE.replace(
        '  - id: second\n    send: { channel: email, body: "Again" }',
        "  - id: second\n    wait: 1h\n    tracking: { clicks: false }",
    )
    result = load_text(text % ("", ""), "news.yaml")
    assert result.compiled is None
    assert [d.path for d in result.diagnostics] == ["steps[1].tracking"]


def test_keys_left_out_take_the_workspace_defaults() -> None:
    defaults = Settings()
    assert effective(None, defaults) == Tracking(clicks=True, opens=False)
    assert effective(TrackingSpec(opens=True), defaults) == Tracking(clicks=True, opens=True)
    workspace = Settings.from_env({"CXFLOW_TRACK_CLICKS": "false", "CXFLOW_TRACK_OPENS": "true"})
    assert effective(None, workspace) == Tracking(clicks=False, opens=True)
    assert effective(TrackingSpec(clicks=True), workspace) == Tracking(clicks=True, opens=True)


def test_a_bad_tracking_setting_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CXFLOW_TRACK_OPENS"):
        Settings.from_env({"CXFLOW_TRACK_OPENS": "sometimes"})


def test_a_send_input_without_tracking_is_the_payload_it_was() -> None:
    """Sends scheduled before `tracking` existed decode, and new ones without it encode
    exactly as they did (the activity's input in a workflow history)."""
    run = RunContext(
        workflow_id="journey:news:ada",
        run_id="r",
        entry_id="r",
        journey_id="news",
        version="v1",
        customer_id="ada",
    )
    fields = {
        "run": run.model_dump(),
        "step_id": "first",
        "idempotency_key": "journey:news:ada/r/first/1",
        "channel": "email",
        "template": None,
        "subject": None,
        "body": "Hello",
        "html": None,
        "params": {},
        "variables": {},
        "frequency_cap": None,
    }
    old = SendInput.model_validate(fields)
    assert old.tracking is None
    assert json.loads(old.model_dump_json()) == fields
    tracked = old.model_copy(update={"tracking": TrackingSpec(opens=True)})
    assert json.loads(tracked.model_dump_json())["tracking"] == {"opens": True}
