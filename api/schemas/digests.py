"""Digest subscriptions: their schedule, what is created and changed, and what is read back."""

from __future__ import annotations

from datetime import datetime
from datetime import time as dt_time
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.schemas.base import CodeText, Strict
from casework.cases import limits
from casework.digests.subscriptions import Frequency, Recipient, Weekday


class DigestScheduleIn(Strict):
    frequency: Frequency
    time: dt_time = Field(description="local time of day, HH:MM")
    time_zone: str = Field("Europe/London", max_length=limits.TIME_ZONE,
                           description="IANA time zone, e.g. Europe/London")
    day_of_week: Weekday | None = Field(None, description="weekly digests only",
                                       validate_default=True)

    @field_validator("time")
    @classmethod
    def _whole_minutes(cls, value: dt_time) -> dt_time:
        if value.second or value.microsecond or value.tzinfo:
            raise ValueError("give a local time as HH:MM")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone '{value}'; use an IANA name such as Europe/London")
        return value

    @field_validator("day_of_week")
    @classmethod
    def _day_for_weekly_only(cls, value: Weekday | None, info: ValidationInfo) -> Weekday | None:
        weekly = info.data.get("frequency") is Frequency.WEEKLY
        if weekly and value is None:
            raise ValueError("a weekly digest needs day_of_week")
        if not weekly and value is not None:
            raise ValueError("day_of_week is for weekly digests only")
        return value


class DigestCreate(Strict):
    team: CodeText = Field(description="the team whose statistics and case list the digest carries")
    recipient: Recipient = Field(Recipient.ME, description="'me' (your address) or 'team' (its mailbox)")
    case_type: CodeText | None = Field(None, description="only this case type")
    schedule: DigestScheduleIn
    active: bool = True


class DigestUpdate(Strict):
    recipient: Recipient | None = None
    case_type: CodeText | None = None
    schedule: DigestScheduleIn | None = None
    active: bool | None = Field(None, description="false pauses the schedule, true resumes it")


class DigestScheduleRead(BaseModel):
    frequency: str
    time: str
    time_zone: str
    day_of_week: str | None
    description: str


class DigestRead(BaseModel):
    id: str
    owner: str
    team: str
    recipient: str
    recipient_address: str | None
    case_type: str | None
    schedule: DigestScheduleRead
    active: bool
    schedule_id: str
    temporal_ui_url: str | None
    created_at: datetime
    updated_at: datetime


class DigestPreview(BaseModel):
    recipient: str
    subject: str
    text: str
    html: str
    case_count: int
