"""`with:`, `params` and `update_profile.set` values keep their type when they are one variable."""

from __future__ import annotations

from engine.runtime.rendering import render_values

VARIABLES = {
    "event": {"properties": {"total": 80.5, "paid": True, "ids": ["a", "b"], "qty": 2}},
    "customer": {"first_name": "Ada", "traits": {"tier": "vip"}},
}


def test_a_whole_variable_keeps_its_number_boolean_or_list() -> None:
    inputs = {
        "amount": "{{ event.properties.total }}",
        "paid": "{{event.properties.paid}}",
        "ids": "{{ event.properties.ids }}",
        "second": "{{ event.properties.ids[1] }}",
        "nested": {"qty": "{{- event.properties.qty -}}"},
    }
    assert render_values(inputs, VARIABLES) == {
        "amount": 80.5,
        "paid": True,
        "ids": ["a", "b"],
        "second": "b",
        "nested": {"qty": 2},
    }


def test_text_filters_and_missing_values_render_as_text_as_before() -> None:
    inputs = {
        "name": "{{ customer.first_name }}",
        "line": "Total: {{ event.properties.total }}",
        "plus": "{{ event.properties.qty | plus: 1 }}",
        "missing": "{{ customer.traits.nothing }}",
        "literal": 10,
    }
    assert render_values(inputs, VARIABLES) == {
        "name": "Ada",
        "line": "Total: 80.5",
        "plus": "3",
        "missing": "",
        "literal": 10,
    }


def test_today_is_the_customers_date_and_now_is_utc() -> None:
    from datetime import UTC, datetime

    from engine.runtime.rendering import time_variables

    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert time_variables(late, "Asia/Tokyo") == {
        "now": "2026-12-01T23:30:00+00:00",
        "today": "2026-12-02",
    }
    assert time_variables(late, None)["today"] == "2026-12-01"
    assert time_variables(late, "Not/AZone")["today"] == "2026-12-01"
