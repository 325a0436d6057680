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
