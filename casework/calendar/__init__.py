"""Calendars and deadlines: working days, policies, and a case's dates (pure, plus the region's closures)."""
