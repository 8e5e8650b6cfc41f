"""One way of showing money across the studio: US dollars with as many digits as the amount
needs to be read, never in scientific notation.

``format_usd(Decimal("1234.5"))`` is ``$1,234.50``; amounts under a dollar keep two to four
significant digits (``$0.0123``, ``$0.000036``); an amount too small to show is
``< $0.000001``; zero is ``$0.00``. The ledger keeps every digit; this is for people. No
result holds a breaking space, so an amount never wraps.

``format_price`` is the same for a price or a quote, where zero reads ``Free``;
``format_estimate`` marks an amount that is not yet the provider's own count with ``≈``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

SMALLEST = Decimal("0.000001")


def _significant(value: Decimal, digits: int) -> Decimal:
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)


def format_usd(value: object) -> str:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if amount.is_nan():
        return ""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount == 0:
        return "$0.00"
    if amount >= 1:
        return f"{sign}${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"
    if amount < SMALLEST:
        return f"{sign}<\u00a0${SMALLEST:f}"
    digits = 3 if amount >= Decimal("0.01") else 2
    shown = _significant(amount, digits).normalize()
    text = format(shown, "f")
    if shown >= Decimal("0.01") and len(text.split(".")[1]) < 2:
        text = format(shown.quantize(Decimal("0.01")), "f")
    return f"{sign}${text}"


def plain(value: object) -> str:
    """An amount for a machine (events, JSON, CSV): every digit, never in exponent form
    (``"0.00000000"``, not ``"0E-8"``)."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(amount, "f")


def format_price(value: object) -> str:
    """A price or an expected cost: ``Free`` when it is zero."""
    text = format_usd(value)
    return "Free" if text == "$0.00" else text


def format_estimate(value: object) -> str:
    """An amount estimated before the provider reports its count: ``≈ $0.0123``."""
    text = format_price(value)
    return text if text in ("", "Free") else f"\u2248\u00a0{text}"
