"""Money: a Decimal amount in an ISO 4217 currency, never a float, never summed across currencies."""

from __future__ import annotations

from decimal import Decimal

from iso4217 import Currency


def currency_refusal(code: str) -> str | None:
    """Why `code` is not an ISO 4217 currency code, or None when it is."""
    try:
        Currency(code)
    except ValueError:
        return f"'{code[:10]}' is not an ISO 4217 currency code (e.g. GBP, EUR, USD)"
    return None


def minor_units(code: str) -> int:
    """The decimal places an amount in the currency may have (GBP 2, JPY 0, BHD 3; a code with
    none, such as XAU, takes up to 4, what the columns hold)."""
    exponent = Currency(code).exponent
    return 4 if exponent is None else exponent


def amount_refusal(amount: Decimal, code: str) -> str | None:
    """Why `amount` cannot be an amount in `code` (too many decimal places), or None."""
    if not amount.is_finite():
        return "must be a finite number"
    places = minor_units(code)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        return f"{code} amounts have at most {places} decimal places"
    return None


def in_minor_units(amount: Decimal, code: str) -> Decimal:
    """`amount` with its currency's decimal places (the columns keep 4): 1250.0000 GBP is 1250.00."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(code)))


def shown(amount: Decimal, code: str) -> str:
    """`amount` written with its currency's decimal places: 150.00 GBP."""
    return f"{in_minor_units(amount, code)} {code}"
