"""UK postcodes in one written form, when stored and when searched: "ZP499NA", "zp49 9na" and
"ZP49 9NA" are the same postcode, stored and matched as "ZP49 9NA". A postcode that is not a UK one
keeps its characters, upper-cased with single spaces."""

from __future__ import annotations

import re

# Outward code (area, district, sub-district: "ZP49", "EC1A", "M1"), then the inward code ("9NA").
_UK = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")


def normalise_postcode(value: str) -> str:
    compact = "".join(value.upper().split())
    uk = _UK.match(compact)
    if uk:
        return f"{uk.group(1)} {uk.group(2)}"
    return " ".join(value.upper().split())


def is_outward_code(value: str) -> bool:
    """A UK outward code alone ("ZP49"): a search for it finds every postcode it starts."""
    return bool(_OUTWARD.match(value))
