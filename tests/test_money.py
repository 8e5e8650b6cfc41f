"""One way of showing money across the studio (aura_site/money.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aura_site.money import format_estimate, format_price, format_usd


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("1"), "$1.00"),
        (Decimal("0.5"), "$0.50"),
        (Decimal("0.0123"), "$0.0123"),
        (Decimal("0.01234567"), "$0.0123"),
        (Decimal("0.000036"), "$0.000036"),
        (Decimal("0.0000364"), "$0.000036"),
        (Decimal("0.00000001"), "<\u00a0$0.000001"),
        (Decimal("0"), "$0.00"),
        (Decimal("-0.25"), "-$0.25"),
        ("0.10000000", "$0.10"),
        ("not money", ""),
    ],
)
def test_format_usd(amount: object, shown: str) -> None:
    assert format_usd(amount) == shown


def test_an_amount_never_wraps() -> None:
    for amount in ("0.00000001", "12345678.9", "0.000036"):
        assert " " not in format_usd(amount)
        assert " " not in format_estimate(amount)


def test_prices_and_estimates() -> None:
    assert format_price(Decimal(0)) == "Free"
    assert format_price(Decimal("0.12")) == "$0.12"
    assert format_estimate(Decimal("0.0000627")) == "\u2248\u00a0$0.000063"
    assert format_estimate(Decimal(0)) == "Free"
    assert format_estimate("") == ""
