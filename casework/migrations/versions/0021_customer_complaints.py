"""customer complaints: review results, claims against invoices (capped in PostgreSQL), sales
adjustments, and the CUST case type

The claim trigger locks the invoice's row (FOR UPDATE) before summing the claims on it, so two
complaints claiming against one invoice at the same moment are serialised: the second sees the
first's claim and is refused if together they exceed the invoice's total.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 04:30:00
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: Union[str, None] = '0020'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STAGES = [
    {"key": "registered", "kind": "triage", "label": "Registered", "optional": False},
    {"key": "planned", "kind": "planned", "label": "Planned", "optional": False},
    {"key": "fulfilled", "kind": "fulfilled", "label": "Fulfilled", "optional": False},
    {"key": "closure", "kind": "closure", "label": "Posted", "optional": False},
]
CLOSE_REASONS = ["posted", "not fulfilled", "withdrawn", "duplicate"]


def upgrade() -> None:
    op.execute("""
        CREATE TABLE customer_complaint_review (
            id varchar(36) PRIMARY KEY,
            case_reference varchar(40) NOT NULL REFERENCES case_record (reference),
            version integer NOT NULL,
            text text NOT NULL,
            recorded_by varchar(200) NOT NULL,
            recorded_by_id integer,
            recorded_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX ix_customer_complaint_review_case_reference ON customer_complaint_review (case_reference)")
    op.execute("""
        CREATE TABLE customer_complaint_claim (
            case_reference varchar(40) PRIMARY KEY,
            invoice varchar(100) NOT NULL CONSTRAINT fk_claim_invoice REFERENCES invoice (external_id),
            amount numeric(19, 4) NOT NULL CONSTRAINT ck_claim_amount_positive CHECK (amount > 0),
            currency varchar(3) NOT NULL,
            claimed_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX ix_customer_complaint_claim_invoice ON customer_complaint_claim (invoice)")
    op.execute("""
        CREATE FUNCTION customer_complaint_claim_within_total() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            inv_total numeric;
            inv_currency varchar;
            claimed numeric;
        BEGIN
            -- The invoice's row lock serialises every claim on it until the claimer commits.
            SELECT total, currency INTO inv_total, inv_currency FROM invoice
             WHERE external_id = NEW.invoice FOR UPDATE;
            IF NOT FOUND THEN
                RETURN NEW;  -- the foreign key refuses it
            END IF;
            IF NEW.currency <> inv_currency THEN
                RAISE EXCEPTION 'invoice % is in %, not %', NEW.invoice, inv_currency, NEW.currency
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_claim_currency';
            END IF;
            SELECT coalesce(sum(amount), 0) INTO claimed FROM customer_complaint_claim
             WHERE invoice = NEW.invoice AND case_reference <> NEW.case_reference;
            IF claimed + NEW.amount > inv_total THEN
                RAISE EXCEPTION 'invoice % totals % %; % % is already claimed, so at most % % can be',
                    NEW.invoice, inv_total, inv_currency, claimed, inv_currency,
                    greatest(inv_total - claimed, 0), inv_currency
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_claim_within_invoice_total';
            END IF;
            RETURN NEW;
        END $$""")
    op.execute("""
        CREATE TRIGGER customer_complaint_claim_within_total BEFORE INSERT OR UPDATE ON customer_complaint_claim
        FOR EACH ROW EXECUTE FUNCTION customer_complaint_claim_within_total()""")
    op.execute("CREATE SEQUENCE sales_adjustment_number_seq")
    op.execute("""
        CREATE TABLE sales_adjustment (
            id varchar(36) PRIMARY KEY,
            business_key varchar(200) NOT NULL UNIQUE,
            number varchar(20) NOT NULL UNIQUE,
            case_reference varchar(40) NOT NULL,
            customer varchar(100) NOT NULL,
            contract varchar(100) NOT NULL,
            invoice varchar(100),
            amount numeric(19, 4) NOT NULL CONSTRAINT ck_sales_adjustment_amount CHECK (amount > 0),
            currency varchar(3) NOT NULL,
            status varchar(10) NOT NULL CONSTRAINT ck_sales_adjustment_status
                CHECK (status IN ('draft', 'posted', 'voided')),
            drafted_at timestamptz NOT NULL DEFAULT now(),
            posted_at timestamptz,
            posted_by varchar(200) NOT NULL,
            void_reason text
        )""")
    op.execute("CREATE INDEX ix_sales_adjustment_case_reference ON sales_adjustment (case_reference)")
    op.execute("CREATE UNIQUE INDEX uq_sales_adjustment_posted ON sales_adjustment (case_reference)"
               " WHERE status = 'posted'")
    op.execute(sa.text(
        "INSERT INTO case_type (code, kind, name, reference_prefix, stages, outcome_options, close_reasons, active)"
        " VALUES ('CUST', 'customer_complaint', 'Customer complaint', 'CUST', CAST(:stages AS jsonb),"
        " '[]'::jsonb, CAST(:reasons AS jsonb), true) ON CONFLICT (code) DO NOTHING"
    ).bindparams(stages=json.dumps(STAGES), reasons=json.dumps(CLOSE_REASONS)))


def downgrade() -> None:
    op.execute("DELETE FROM case_type WHERE code = 'CUST' AND NOT EXISTS"
               " (SELECT FROM case_record WHERE case_type = 'CUST')")
    op.execute("DROP TABLE sales_adjustment")
    op.execute("DROP SEQUENCE sales_adjustment_number_seq")
    op.execute("DROP TABLE customer_complaint_claim")
    op.execute("DROP FUNCTION customer_complaint_claim_within_total()")
    op.execute("DROP TABLE customer_complaint_review")
