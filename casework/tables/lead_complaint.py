"""Lead complaints' own collections: none in tables of their own (resolutions and disputes are kept
in the case's `details`)."""

from casework.cases.collections import register_collections

register_collections("lead_complaint", {})
