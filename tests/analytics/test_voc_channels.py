"""VoC by channel: the channel of the message that carried each answer's survey link, found
from the answer's journey, the customer's run and that run's message log."""

from __future__ import annotations

from datetime import timedelta

from engine.analytics.voc import voc_report
from engine.store import EventRecord, Store
from tests.analytics.conftest import T0, Ledger

HOUR, DAY, MINUTE = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)


def answer(n: int, customer: str, score: int, **properties: object) -> EventRecord:
    return EventRecord(
        message_id=f"answer-{n}",
        customer_id=customer,
        name="survey.responded",
        properties={"kind": "nps", "score": score, "survey": "first-week", **properties},
        timestamp=T0 + 3 * DAY + n * MINUTE,
        received_at=T0 + 3 * DAY + n * MINUTE,
    )


def test_answers_are_broken_down_by_the_channel_their_link_went_by(
    ledger: Ledger, store: Store
) -> None:
    # ada: link made, then an email carries it (an sms came before the link: not it).
    ada = ledger.run("thanks", "ada", T0)
    ledger.message(ada, "hello", "sms", T0)
    ledger.message(ada, "make-link", "survey.link", T0 + HOUR)
    ledger.message(ada, "ask", "email", T0 + HOUR + MINUTE)
    ledger.message(ada, "later", "sms", T0 + HOUR + 2 * MINUTE)
    # bob: his earlier run sent the link by push; the run before his answer, by sms.
    old = ledger.run("thanks", "bob", T0 - 30 * DAY, entry="bob-old")
    ledger.message(old, "make-link", "survey.link", T0 - 30 * DAY)
    ledger.message(old, "ask-push", "push", T0 - 30 * DAY + MINUTE)
    new = ledger.run("thanks", "bob", T0, entry="bob-new")
    ledger.message(new, "make-link", "survey.link", T0 + HOUR)
    ledger.message(new, "ask-sms", "sms", T0 + HOUR + MINUTE)
    # cy: a link made but the send that would carry it failed.
    cy = ledger.run("thanks", "cy", T0)
    ledger.message(cy, "make-link", "survey.link", T0 + HOUR)
    ledger.message(cy, "ask", "email", T0 + HOUR + MINUTE, status="failed")
    # eve: no link call in her run, but the answer names the send step.
    eve = ledger.run("thanks", "eve", T0)
    ledger.message(eve, "ask-sms", "sms", T0 + HOUR)
    store.record_events(
        [
            answer(1, "ada", 10, journey_id="thanks"),
            answer(2, "bob", 3, journey_id="thanks"),
            answer(3, "cy", 9, journey_id="thanks"),
            answer(4, "dee", 8),  # no journey: another tool's survey
            answer(5, "eve", 9, journey_id="thanks", step_id="ask-sms"),
            answer(6, "fay", 9, journey_id="thanks"),  # no run of hers at all
        ]
    )
    report = voc_report(store)
    channels = {b.key: b.scores[0] for b in report.by_channel}
    assert set(channels) == {"email", "sms", "unknown"}
    assert channels["email"].answers == 1 and channels["email"].score == 100.0
    assert channels["sms"].answers == 2  # bob (3) and eve (9)
    assert channels["sms"].counts == {"promoters": 1, "passives": 0, "detractors": 1}
    assert channels["unknown"].answers == 3  # cy, dee, fay
