"""The split of the store into repositories kept every public method of the old Store."""

from __future__ import annotations

import inspect
from pathlib import Path

from engine.store import Store

# Every public member of Store before the split (engine/store.py, then engine/store/facade.py),
# with its parameters and defaults: callers across the code base call these.
PUBLIC_API = """
active_journeys()
active_segments()
active_versions()
assign_variant(experiment, customer_id, variant)
assignments(experiment)
check_write_key(key, scope='write')
claim_message(key, run_workflow_id, step_id, channel, customer_id)
complete_message(key, status, detail)
consents(customer_id, channel=None)
conversions(journey_id)
create_write_key(source, scope='write')
customer_ids(after=None, limit=500)
deploy_journey(journey, source=None)
deploy_segment(segment, source=None)
dialect (property)
dispose()
erase_customer(customer_id)
event_aggregates(customer_id, aggregates, now=None)
events_for(customer_id, name=None, limit=100)
get_customer(customer_id)
get_journey(journey_id, version=None)
get_message(key)
get_runs(journey_id=None, customer_id=None, status=None, limit=100)
journey_ids()
journey_versions(journey_id)
last_entry(journey_id, customer_id)
mark_routed(message_id, at=None)
messages_for(customer_id=None, workflow_id=None)
migrate()
open(url, *, search_path=None)
recompute_segments(customer_id, segments, aggregates, decide, now=None)
record_conversion(conversion)
record_event(event)
record_events(events)
record_identify(event, traits, timezone=None)
run_finished(workflow_id, run_id, status, reason=None, ended_at=None)
run_started(run)
run_step(workflow_id, run_id, step_id, at=None)
run_variant(workflow_id, run_id, variant)
segment_changes(segment=None, customer_id=None, limit=100)
segment_members(segment)
segment_summaries()
segments_fingerprint()
sent_count_since(customer_id, since, channels=None)
set_consent(customer_id, channel, subscribed, source, at=None)
set_segments(customer_id, segments)
step_funnel(journey_id)
unrouted_events(limit=100, received_before=None)
update_traits(customer_id, set_traits, unset)
upsert_customer(customer_id, traits=None, timezone=None)
write_keys()
"""


def described(name: str, member: object) -> str:
    """``name(parameters with defaults)``, the way PUBLIC_API lists it."""
    if isinstance(member, property):
        return f"{name} (property)"
    function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
    assert callable(function)
    shown: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in ("self", "cls"):
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and "*" not in shown:
            shown.append("*")
        default = "" if parameter.default is parameter.empty else f"={parameter.default!r}"
        shown.append(parameter.name + default)
    return f"{name}({', '.join(shown)})"


def test_every_public_method_of_the_old_store_is_on_the_facade() -> None:
    present = {
        described(name, member) for name, member in vars(Store).items() if not name.startswith("_")
    }
    missing = [line for line in PUBLIC_API.strip().splitlines() if line not in present]
    assert missing == [], f"Store lost or changed these methods: {missing}"


def test_the_facade_keeps_the_url_and_builds_every_repository(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cxflow.db'}")
    try:
        assert store.url == f"sqlite:///{tmp_path / 'cxflow.db'}"
        repositories = ("customers", "consent", "events", "segments", "journeys", "runs")
        repositories += ("messages", "experiments", "keys", "erasure")
        for name in repositories:
            assert getattr(store, name).__class__.__module__.startswith("engine.store."), name
    finally:
        store.dispose()
