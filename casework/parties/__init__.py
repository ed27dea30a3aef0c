"""Parties and records: customers, partners, lead groups, leads, contracts, invoices and the lead
ledger, kept in sync by the CRM/ERP that owns them (docs/parties-and-records.md)."""
