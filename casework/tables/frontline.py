"""Frontline complaints' own collections: none. Their contacts and follow-ups are few and read
with the case, so they live in the core row's `details` (FrontlineState.kind_details)."""
