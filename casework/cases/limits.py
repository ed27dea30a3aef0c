"""Length limits written once: the database columns (casework.platform.db) and the request schemas
(api/schemas) both read them, so the API never accepts a value PostgreSQL would refuse.

tests/test_input_limits.py walks the tables and the request bodies and fails if a field that lands
in a column allows more than the column holds."""

from __future__ import annotations

CODE = 40  # team and case type codes, stages, a case's channel and severity, relationships
REFERENCE = 40
NAME = 200  # a person's name, a display name, a topic, a short reason
CATEGORY = 100  # a complaint's category, an outcome, a close reason
EMAIL = 320  # RFC 5321: 64 + @ + 255
PHONE = 40
POSTCODE = 12
EXTERNAL_REFERENCE = 100
EXTERNAL_SUBJECT = 255  # an identity provider's `sub` for a user (single sign-on)
FILENAME = 255
IDEMPOTENCY_KEY = 200
TEXT = 20000  # free text (descriptions, notes, reasons, questions): a Text column, bounded here
ADDRESS_LINE = 200
TIME_ZONE = 64  # IANA names; the longest is 32

# The largest OFFSET PostgreSQL takes (a bigint); a larger one is refused with a 422, not a 500.
MAX_OFFSET = 2**63 - 1
