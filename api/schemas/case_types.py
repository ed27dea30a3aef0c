"""Case types as an administrator creates, edits and reads them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from api.schemas.base import CategoryText, CodeText, Read, ShortText, Strict

TypeCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                            pattern=r"^[A-Z][A-Z0-9_]*$")]
Prefix = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10,
                                          pattern=r"^[A-Z][A-Z0-9]*$")]
Options = Annotated[list[CategoryText], Field(min_length=1, max_length=50)]


class StageIn(Strict):
    key: CodeText
    kind: CodeText = Field(description="one of the stage kinds of the type's kind of case")
    label: ShortText
    optional: bool = False


Stages = Annotated[list[StageIn], Field(min_length=2, max_length=30,
                                        description="in order: a triage stage first, a closure stage last")]


class CaseTypeCreate(Strict):
    code: TypeCode
    kind: CodeText = Field("complaint", description="the kind of case: its steps and rules")
    name: ShortText
    reference_prefix: Prefix = Field(description="references read PREFIX/000123/26; unique")
    stages: Stages
    outcome_options: Options
    close_reasons: Options
    escalation_type: TypeCode | None = Field(None, description="the stage-2 type a closed case escalates to")
    deadline_policy: dict[str, Any] | None = Field(
        None, description="a preset by name, with fields changed if wanted ({\"preset\": \"uk-public-sector\", "
        "\"response_days\": 60}), or every field; none: the default preset")
    team: CodeText | None = Field(None, description="the team a new case of this type is routed to")
    active: bool = True


class CaseTypeUpdate(Strict):
    name: ShortText | None = None
    reference_prefix: Prefix | None = Field(None, description="only while no case of the type exists")
    stages: Stages | None = None
    outcome_options: Options | None = None
    close_reasons: Options | None = None
    escalation_type: TypeCode | None = None
    deadline_policy: dict[str, Any] | None = None
    team: CodeText | None = None
    active: bool | None = Field(None, description="false retires it: no new cases; open ones carry on")


class CaseTypeRead(Read):
    code: str
    kind: str
    name: str
    reference_prefix: str
    stages: list[dict[str, Any]]
    outcome_options: list[str]
    close_reasons: list[str]
    escalation_type: str | None
    deadline_policy: dict[str, Any] | None
    team: str | None = Field(validation_alias="default_team")
    active: bool
