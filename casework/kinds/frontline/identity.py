"""Who a complainant is, normalised, so a repeat contact finds their earlier case: an email in
lower case, a phone number as its digits (a UK +44 number as its 0 form), a customer's id."""

from __future__ import annotations

import re

_NOT_DIGITS = re.compile(r"\D")


def email_key(email: str) -> str:
    return "email:" + email.strip().casefold()


def phone_key(phone: str) -> str | None:
    digits = _NOT_DIGITS.sub("", phone)
    if digits.startswith("0044"):
        digits = "0" + digits[4:]
    elif digits.startswith("44") and phone.strip().startswith("+"):
        digits = "0" + digits[2:]
    return f"phone:{digits}" if len(digits) >= 6 else None


def identity_keys(email: str | None, phone: str | None, customer_id: str | None) -> list[str]:
    """The complainant's normalised identities, sorted (the order their locks are taken in)."""
    keys = set()
    if email and email.strip():
        keys.add(email_key(email))
    if phone:
        key = phone_key(phone)
        if key:
            keys.add(key)
    if customer_id and customer_id.strip():
        keys.add("customer:" + customer_id.strip())
    return sorted(keys)
