"""Fixtures for DSL tests: a small valid journey to start invalid cases from."""

from __future__ import annotations

import textwrap

import pytest

MINIMAL = textwrap.dedent(
    """\
    journey: welcome
    name: Welcome
    trigger:
      event: user.signed_up
    steps:
      - id: hello
        send:
          channel: email
          body: "Hi {{ customer.first_name }}"
      - id: pause
        wait: 1d
      - id: done
        exit: {}
    """
)


@pytest.fixture
def minimal_journey() -> str:
    return MINIMAL
