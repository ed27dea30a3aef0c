"""Demo records for `make run`: customers with contacts, contracts and invoices; two lead groups;
partners (introducers, referral partners) with their users; leads with fees on the ledger. Loaded through the same
upserts a CRM's sync uses, and the fees with Idempotency-Keys, so loading again changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from casework.parties import ledger, records
from casework.parties.ledger import Posting
from casework.parties.models import PartnerMember
from casework.parties.records import RECORD_TYPES, Who
from casework.platform.db import AppUser

DEMO = Who(name="Demo data", user_id=None)


def _customer(name: str, kind: str, email: str, contacts: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {"kind": kind, "name": name, "email": email, "phone": "020 7946 0100",
            "addresses": [{"label": "billing", "lines": ["1 Market Street", "Anytown"], "postcode": "AB1 2CD",
                           "country": "GB"}],
            "contacts": [{"external_id": cid, "name": n, "role": role, "email": None, "phone": None}
                         for cid, n, role in contacts]}


# (record type, external id, columns), in the order references need.
RECORDS: list[tuple[str, str, dict[str, Any]]] = [
    ("customers", "CUST-1001", _customer("Northwind Traders Ltd", "organisation", "accounts@northwind.example",
                                         [("CP-1", "Nadia North", "finance"), ("CP-2", "Wes Wind", "operations")])),
    ("customers", "CUST-1002", _customer("Blue Harbour Cafe", "organisation", "hello@blueharbour.example",
                                         [("CP-3", "Harriet Blue", "owner")])),
    ("customers", "CUST-1003", _customer("Sam Private", "person", "sam.private@example.net", [])),
    ("contracts", "CON-2001", {"customer": "CUST-1001", "number": "NW-2026-01", "currency": "GBP",
                               "starts_on": date(2026, 1, 1), "ends_on": date(2027, 12, 31)}),
    ("contracts", "CON-2002", {"customer": "CUST-1002", "number": "BH-2026-01", "currency": "EUR",
                               "starts_on": date(2026, 3, 1), "ends_on": None}),
    ("invoices", "INV-3001", {"number": "INV-3001", "customer": "CUST-1001", "contract": "CON-2001",
                              "issued_on": date(2026, 10, 1), "due_on": date(2026, 10, 31), "currency": "GBP",
                              "total": Decimal("1250.00"),
                              "lines": [{"description": "Monthly service", "quantity": "1", "unit_price": "1000.00",
                                         "amount": "1000.00"},
                                        {"description": "Call-out", "quantity": "1", "unit_price": "250.00",
                                         "amount": "250.00"}]}),
    ("invoices", "INV-3002", {"number": "INV-3002", "customer": "CUST-1002", "contract": "CON-2002",
                              "issued_on": date(2026, 11, 1), "due_on": None, "currency": "EUR",
                              "total": Decimal("89.90"),
                              "lines": [{"description": "Coffee machine rental", "quantity": "1",
                                         "unit_price": "89.90", "amount": "89.90"}]}),
    ("lead-groups", "LG-MORTGAGES", {"name": "Mortgages", "description": "Mortgage enquiries"}),
    ("lead-groups", "LG-SOLAR", {"name": "Solar panels", "description": "Home solar installations"}),
    ("partners", "P-ACME", {"name": "Acme Introductions", "email": "leads@acme.example", "phone": None,
                            "is_introducer": True, "is_referral_partner": False}),
    ("partners", "P-BRIGHT", {"name": "Bright Brokers", "email": "intake@bright.example", "phone": None,
                              "is_introducer": False, "is_referral_partner": True}),
    ("partners", "P-CEDAR", {"name": "Cedar Partners", "email": "desk@cedar.example", "phone": None,
                             "is_introducer": True, "is_referral_partner": True}),
    ("leads", "L-5001", {"name": "Lee Lead", "email": "lee.lead@example.net", "phone": "07700 900001",
                         "address_lines": ["2 Hill Road", "Anytown"], "postcode": "AB1 3EF",
                         "lead_group": "LG-MORTGAGES", "introducer": "P-ACME", "referral_partner": "P-BRIGHT",
                         "status": "referred", "referred_at": datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc),
                         "billing_point": "referral"}),
    ("leads", "L-5002", {"name": "Morgan Prospect", "email": "morgan@example.net", "phone": "07700 900002",
                         "address_lines": [], "postcode": None, "lead_group": "LG-SOLAR", "introducer": "P-CEDAR",
                         "referral_partner": "P-CEDAR", "status": "referred",
                         "referred_at": datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc), "billing_point": "sale"}),
    ("leads", "L-5003", {"name": "Robin New", "email": None, "phone": "07700 900003", "address_lines": [],
                         "postcode": None, "lead_group": "LG-SOLAR", "introducer": "P-ACME",
                         "referral_partner": None, "status": "new", "referred_at": None, "billing_point": None}),
]

# Demo users (devtools.demo.USERS) who belong to a partner organisation.
PARTNER_MEMBERS = {"partner-acme": "P-ACME", "partner-cedar": "P-CEDAR"}

# (lead, Idempotency-Key, posting)
FEES = [
    ("L-5001", "demo-fee-1", Posting("P-BRIGHT", "referral_fee", Decimal("150.00"), "GBP")),
    ("L-5001", "demo-fee-2", Posting("P-ACME", "introducer_commission", Decimal("-40.00"), "GBP")),
    ("L-5002", "demo-fee-3", Posting("P-CEDAR", "referral_fee", Decimal("120.00"), "EUR")),
    ("L-5002", "demo-fee-4", Posting("P-CEDAR", "introducer_commission", Decimal("-25.00"), "EUR")),
]


async def load(session: AsyncSession) -> None:
    """Upsert the demo records and post their fees (each once, by its key)."""
    for record_type, external_id, values in RECORDS:
        await records.upsert(session, RECORD_TYPES[record_type], external_id, values, DEMO)
    for lead, key, posting in FEES:
        await ledger.post(session, lead, posting, DEMO, key)
    users = dict((await session.execute(select(AppUser.username, AppUser.id)
                                        .where(AppUser.username.in_(PARTNER_MEMBERS)))).all())
    for username, partner in PARTNER_MEMBERS.items():
        await session.execute(insert(PartnerMember).values(partner=partner, user_id=users[username])
                              .on_conflict_do_nothing())
