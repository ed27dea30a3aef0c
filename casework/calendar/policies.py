"""Deadline policies: how long a case type has to respond, when to warn, and what may move the clock.

Pure data and validation (pydantic, for the admin API's 422s), no Temporal/SQLAlchemy/HTTP imports.
A policy is stored on its case type and copied into each case when it is registered, so a later
change to the type's policy never silently moves the deadlines of cases already open (changing a
case's *type* does recompute them; see `workflows/engine/clock.py`).

Every day count is in the policy's `unit` — working days (weekends, bank holidays and closures
excluded) or calendar days — except the acknowledgement, which is always counted in working days.
Stage deadlines are keyed by stage *kind*, so one policy fits any stage plan and survives a change
of case type.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from casework.calendar.bounds import MAX_RESPONSE_DAYS
from casework.calendar.workdays import DEFAULT_REGION, Region
from casework.cases.stages import stage_kind_names


class DayUnit(StrEnum):
    WORKING = "working"
    CALENDAR = "calendar"


class ExtensionAnchor(StrEnum):
    """Where an extension's N working days are counted from."""

    TODAY = "today"
    DEADLINE = "deadline"


class DeadlinePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str | None = Field(None, description="the preset this policy was built from, if any")
    name: str = Field(min_length=1, max_length=200)
    rule: str = Field("", max_length=2000, description="the rule the policy implements, in words")
    region: Region = DEFAULT_REGION
    unit: DayUnit = DayUnit.WORKING
    response_days: int = Field(ge=1, le=MAX_RESPONSE_DAYS, description="days from receipt to the response deadline")
    warning_days: int = Field(ge=0, le=365, description="warn this many days before the deadline")
    acknowledgement_days: int | None = Field(
        None, ge=0, le=60, description="working days from receipt to acknowledge; none: no target")
    stage_days: dict[str, int] = Field(
        default_factory=dict, description="per stage kind: days from receipt to finish that stage")
    max_extensions: int = Field(0, ge=0, le=10)
    extension_cap_days: int | None = Field(
        None, ge=1, le=732, description="no extension may go beyond receipt + this many days")
    holding_response_at_deadline: bool = Field(
        False, description="a holding response is due at the deadline if no final response is sent")
    pause_on_clarification: bool = Field(
        True, description="a clarification request stops the clock until the reply (or reply-by date)")

    # Field validators (not one model validator) so a 422 names the field that is wrong; each sees
    # the fields declared before it in `info.data`.
    @field_validator("warning_days", "acknowledgement_days")
    @classmethod
    def _before_the_deadline(cls, value: int | None, info: ValidationInfo) -> int | None:
        response_days = info.data.get("response_days")
        if value is not None and response_days is not None and value >= response_days:
            raise ValueError(f"must be fewer than response_days ({response_days})")
        return value

    @field_validator("stage_days")
    @classmethod
    def _stages_within_the_deadline(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        response_days = info.data.get("response_days")
        known = stage_kind_names()
        for kind, days in value.items():
            if kind not in known:
                raise ValueError(f"{kind}: not a stage kind (one of: {', '.join(sorted(known))})")
            if days < 0 or (response_days is not None and days > response_days):
                raise ValueError(f"{kind}: must be between 0 and response_days ({response_days})")
        return value

    @field_validator("extension_cap_days")
    @classmethod
    def _cap_beyond_the_deadline(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None:
            return value
        response_days = info.data.get("response_days")
        if response_days is not None and value <= response_days:
            raise ValueError(f"must be more than response_days ({response_days})")
        if info.data.get("max_extensions") == 0:
            raise ValueError("needs max_extensions of at least 1")
        return value

    def with_target(self, working_days: int, name: str, rule: str) -> DeadlinePolicy:
        """This policy with its response due `working_days` working days after receipt (a target
        of its own, e.g. a lead complaint type's), everything else kept where it still fits: the
        warning, acknowledgement and stage targets no later than the new deadline, an extension
        cap only if it still lies beyond it."""
        days = working_days
        data = self.model_dump()
        data.update(
            preset=None, name=name[:200], rule=rule[:2000], unit=DayUnit.WORKING, response_days=days,
            warning_days=min(self.warning_days, days - 1),
            acknowledgement_days=None if self.acknowledgement_days is None else min(self.acknowledgement_days,
                                                                                  days - 1),
            stage_days={kind: min(n, days) for kind, n in self.stage_days.items()},
            extension_cap_days=self.extension_cap_days if (self.extension_cap_days or 0) > days else None)
        return DeadlinePolicy.model_validate(data)

    def describe(self) -> str:
        unit = "working days" if self.unit is DayUnit.WORKING else "calendar days"
        return f"{self.name}: {self.response_days} {unit}"


UK_PUBLIC_SECTOR = DeadlinePolicy(
    preset="uk-public-sector",
    name="UK public sector",
    rule="Reply within 20 working days of receipt (the common target for UK public bodies, e.g. "
         "government departments' complaints procedures); acknowledge within 3 working days. "
         "The clock stops while the complainant is asked for information.",
    unit=DayUnit.WORKING,
    response_days=20,
    warning_days=5,
    acknowledgement_days=3,
    stage_days={"triage": 2, "draft": 15, "qa": 18, "send": 20},
    max_extensions=1,
    pause_on_clarification=True,
)

FCA_DISP = DeadlinePolicy(
    preset="fca-disp",
    name="FCA DISP 1.6 (8 weeks)",
    rule="Final response within eight weeks of receipt (DISP 1.6.2R); by then, if no final response, "
         "a written holding response explaining why and giving the right to refer to the Financial "
         "Ombudsman Service. Prompt acknowledgement (DISP 1.6.1R). The eight weeks do not stop.",
    unit=DayUnit.CALENDAR,
    response_days=56,
    warning_days=14,
    acknowledgement_days=5,
    stage_days={"triage": 3, "draft": 42, "qa": 49, "send": 56},
    max_extensions=0,
    holding_response_at_deadline=True,
    pause_on_clarification=False,
)

PAYMENT_SERVICES = DeadlinePolicy(
    preset="payment-services",
    name="Payment services (15/35 business days)",
    rule="Final reply within 15 business days of receipt (Payment Services Regulations 2017 reg. 101, "
         "DISP 1.6.2AR); in exceptional circumstances a holding reply by then, with the final reply "
         "within 35 business days. The clock does not stop.",
    unit=DayUnit.WORKING,
    response_days=15,
    warning_days=3,
    acknowledgement_days=2,
    stage_days={"triage": 1, "draft": 10, "qa": 13, "send": 15},
    max_extensions=1,
    extension_cap_days=35,
    pause_on_clarification=False,
)

CFPB = DeadlinePolicy(
    preset="cfpb",
    name="CFPB (15/60 calendar days)",
    rule="Respond within 15 calendar days; if the response is in progress, a final response within "
         "60 calendar days (CFPB company portal expectations). The clock does not stop.",
    unit=DayUnit.CALENDAR,
    response_days=15,
    warning_days=3,
    acknowledgement_days=None,
    stage_days={"send": 15},
    max_extensions=1,
    extension_cap_days=60,
    pause_on_clarification=False,
)

PRESETS: dict[str, DeadlinePolicy] = {
    p.preset: p for p in (UK_PUBLIC_SECTOR, FCA_DISP, PAYMENT_SERVICES, CFPB)  # type: ignore[misc]
}
DEFAULT_POLICY = UK_PUBLIC_SECTOR


def policy_from_data(data: dict | None) -> DeadlinePolicy:
    """A stored policy; a case type without one uses the default (UK public sector) preset."""
    return DeadlinePolicy.model_validate(data) if data else DEFAULT_POLICY


def policy_from_preset(name: str, **overrides) -> DeadlinePolicy:
    """A preset with some fields changed, validated as a whole. KeyError for an unknown preset."""
    base = PRESETS[name]
    return DeadlinePolicy.model_validate({**base.model_dump(), **overrides})
