"""Frontline complaint handling (F4): the contact centre's first-contact process."""
