"""Signed links: one token format for unsubscribe, survey and plugins' links, on itsdangerous."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.signing import MAX_TOKEN_CHARS, ExpiredLinkError, InvalidLinkError, LinkSigner
from dsl.errors import ConfigurationError, CxflowError, InputError

SECRET = "unit-secret"


def signer(purpose: str = "survey", secret: str = SECRET) -> LinkSigner:
    return LinkSigner(secret, purpose)


def test_a_token_round_trips_url_safe_with_non_ascii_payloads() -> None:
    payload = {"c": "zoë-李", "n": 3, "nested": {"ok": True}}
    token = signer().sign(payload)
    assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in token)
    assert signer().verify(token) == payload


def test_a_purpose_never_verifies_another_purposes_token() -> None:
    token = signer("unsubscribe").sign({"c": "ada"})
    with pytest.raises(InvalidLinkError, match="this survey link is not valid"):
        signer("survey").verify(token)


def test_another_secret_cannot_verify_it() -> None:
    with pytest.raises(InvalidLinkError):
        signer(secret="another").verify(signer().sign({"c": "ada"}))


@pytest.mark.parametrize(
    "text", ["", ".", "..", "abc", "a.b.c", "é.ü.ö", "\udcff", "x" * (MAX_TOKEN_CHARS + 1)]
)
def test_garbage_is_invalid_not_an_error(text: str) -> None:
    with pytest.raises(InvalidLinkError) as raised:
        signer().verify(text)
    assert raised.value.code == "link_invalid"


def test_cut_short_altered_or_extended_tokens_are_invalid() -> None:
    token = signer().sign({"c": "ada", "ch": "email"})
    payload, timestamp, signature = token.rsplit(".", 2)
    other = signer().sign({"c": "bob", "ch": "email"}).rsplit(".", 2)[0]
    for changed in (
        token[:-1],
        token[:-10],
        token + "x",
        f"{other}.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{signature[::-1]}",
        f"{payload}.{signature}",
    ):
        with pytest.raises(InvalidLinkError):
            signer().verify(changed)


def test_a_payload_that_is_not_an_object_is_refused_when_signing() -> None:
    with pytest.raises(TypeError):
        signer().sign(["ada"])  # type: ignore[arg-type]


def test_max_age_expires_a_token_with_its_own_error() -> None:
    token = signer().sign({"c": "ada"})
    assert signer().verify(token, max_age=60) == {"c": "ada"}
    time.sleep(1.1)
    with pytest.raises(ExpiredLinkError) as raised:
        signer().verify(token, max_age=0)
    assert raised.value.code == "link_expired"
    assert raised.value.signed_at is not None
    assert isinstance(raised.value, InvalidLinkError)  # catching invalid links catches both


def test_the_errors_join_the_cxflow_tree() -> None:
    assert issubclass(InvalidLinkError, InputError) and issubclass(InputError, CxflowError)
    with pytest.raises(ConfigurationError):
        LinkSigner("", "survey")
    with pytest.raises(ValueError, match="purpose"):
        LinkSigner(SECRET, "")


@given(st.text(max_size=300))
def test_no_text_makes_it_fail_other_than_invalid(text: str) -> None:
    with pytest.raises(InvalidLinkError):
        signer().verify(text)


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=5))
def test_every_text_payload_round_trips(payload: dict[str, str]) -> None:
    assert signer().verify(signer().sign(payload)) == payload
