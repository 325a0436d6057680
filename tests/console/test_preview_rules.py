"""The preview's and test sends' rules: who may receive a test, and what a preview never
shows of a real customer."""

from __future__ import annotations

import pytest

from engine.runtime.preview import allowed_recipient, placeholders

ALLOW = "qa@shop.example, *@team.shop.example"


@pytest.mark.parametrize(
    "address",
    ["qa@shop.example", "QA@Shop.Example", "lee@team.shop.example", " lee@team.shop.example "],
)
def test_addresses_of_the_list_and_its_domains_may_receive_tests(address: str) -> None:
    assert allowed_recipient(address, ALLOW)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "someone@shop.example",  # the exact address is listed, not the domain
        "lee@evil.example",
        "x@evil.example@team.shop.example",  # two @: a server could route it elsewhere
        "x%evil.example@team.shop.example",  # the percent hack
        "a@team.shop.example,b@evil.example",
        "<a@team.shop.example>",
        "a b@team.shop.example",
        "lee@sub.team.shop.example",  # another domain than the one listed
        "lee@team.shop.example.",
    ],
)
def test_anything_else_is_refused(address: str) -> None:
    assert not allowed_recipient(address, ALLOW)


def test_an_empty_list_allows_no_one() -> None:
    assert not allowed_recipient("qa@shop.example", "")


def test_saved_values_keep_their_shape_but_not_the_customers_values() -> None:
    saved = {"code": "CART-7F3K", "url": "https://cx.example/v1/surveys/signed", "tiers": [5, 10]}
    assert placeholders("coupon", saved) == {
        "code": "[coupon.code]",
        "url": "[coupon.url]",
        "tiers": ["[coupon.tiers[0]]", "[coupon.tiers[1]]"],
    }
    assert placeholders("survey", "https://cx.example/v1/surveys/signed") == "[survey]"
