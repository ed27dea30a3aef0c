"""Digest emails: the schedule of a subscription, its signed unsubscribe link, and the email itself.

A subscription mails one team's statistics and open-case list to its owner (or to the team's
mailbox) daily, on weekdays or weekly, at a time of day in a time zone. Each subscription is one
Temporal Schedule, id ``digest-<subscription id>``, whose calendar spec carries the time and the
time zone, so Temporal (not us) works out daylight-saving changes and missed runs.

The digest is built from the owner's point of view: it counts and lists only cases the owner may
see, so a digest never tells a team mailbox more than the person who set it up could read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import tempfile
from dataclasses import dataclass
from datetime import datetime, time, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import ScheduleCalendarSpec, ScheduleRange, ScheduleSpec

from casework.cases.contracts import Channel
from casework.cases.visibility import viewer_for, visible_cases
from casework.documents import template_library
from casework.platform.config import Settings
from casework.platform.db import AppUser, DigestSubscription, Team
from casework.reporting import search
from casework.reporting.export import XLSX_MEDIA_TYPE, write_xlsx
from casework.reporting.search import COLUMNS, CaseSearch, Sort
from casework.reporting.statistics import team_statistics

# Cases listed in the email body; the attached workbook holds all of them.
CASES_IN_BODY = 50
DIGEST_COLUMNS = ["reference", "complainant_name", "case_type", "stage_label", "assignee_name",
                  "date_received", "deadline", "overdue"]


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKDAYS = "weekdays"
    WEEKLY = "weekly"


class Weekday(StrEnum):
    SUNDAY = "sunday"
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"

    @property
    def number(self) -> int:
        """Temporal's day-of-week number: 0 is Sunday."""
        return list(Weekday).index(self)


class Recipient(StrEnum):
    ME = "me"
    TEAM = "team"


def schedule_id(subscription_id: str) -> str:
    return f"digest-{subscription_id}"


def schedule_spec(frequency: Frequency, at: time, time_zone: str,
                  day_of_week: Weekday | None = None) -> ScheduleSpec:
    if frequency is Frequency.WEEKDAYS:
        days = [ScheduleRange(1, 5)]
    elif frequency is Frequency.WEEKLY:
        if day_of_week is None:
            raise ValueError("a weekly digest needs a day of the week")
        days = [ScheduleRange(day_of_week.number)]
    else:
        days = [ScheduleRange(0, 6)]
    calendar = ScheduleCalendarSpec(
        hour=[ScheduleRange(at.hour)], minute=[ScheduleRange(at.minute)], second=[ScheduleRange(0)],
        day_of_week=days, comment=describe(frequency, at, time_zone, day_of_week))
    return ScheduleSpec(calendars=[calendar], time_zone_name=time_zone)


def describe(frequency: Frequency, at: time, time_zone: str, day_of_week: Weekday | None = None) -> str:
    when = {Frequency.DAILY: "every day", Frequency.WEEKDAYS: "every weekday (Monday to Friday)",
            Frequency.WEEKLY: f"every {(day_of_week or Weekday.MONDAY).value.capitalize()}"}[frequency]
    return f"{when} at {at:%H:%M} ({time_zone})"


def describe_subscription(sub: DigestSubscription) -> str:
    return describe(Frequency(sub.frequency), sub.time_of_day, sub.time_zone,
                    Weekday(sub.day_of_week) if sub.day_of_week else None)


def spec_of(sub: DigestSubscription) -> ScheduleSpec:
    return schedule_spec(Frequency(sub.frequency), sub.time_of_day, sub.time_zone,
                         Weekday(sub.day_of_week) if sub.day_of_week else None)


# ---- unsubscribe links ------------------------------------------------------------------------


def _mac(subscription_id: str, key: bytes) -> str:
    digest = hmac.new(key, f"unsubscribe:{subscription_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def unsubscribe_token(subscription_id: str, key: bytes) -> str:
    return f"{subscription_id}.{_mac(subscription_id, key)}"


def verify_unsubscribe_token(token: str, key: bytes) -> str | None:
    """The subscription id a token was signed for, or None for a forged or mangled token."""
    subscription_id, _, mac = token.rpartition(".")
    if not subscription_id or not hmac.compare_digest(mac.encode(), _mac(subscription_id, key).encode()):
        return None
    return subscription_id


def unsubscribe_url(settings: Settings, subscription_id: str) -> str:
    token = unsubscribe_token(subscription_id, settings.link_signing_key)
    return f"{settings.base_url}/digests/unsubscribe?token={token}"


# ---- the email --------------------------------------------------------------------------------


class DigestUnavailable(Exception):
    """The digest cannot be built: its owner may no longer see the team, or has no address."""


@dataclass(frozen=True)
class Digest:
    recipient: str
    subject: str
    text: str
    html: str
    case_count: int
    attachment_name: str
    attachment: bytes | None = None  # the full case list as XLSX, when asked for
    attachment_type: str = XLSX_MEDIA_TYPE


async def build_digest(session: AsyncSession, sub: DigestSubscription, settings: Settings, *,
                       attach: bool, now: datetime | None = None) -> Digest:
    """Render the digest for `sub` as of now in its time zone, with the case list as XLSX if
    `attach`. Reads only; the caller sends."""
    owner = await session.get(AppUser, sub.owner_id)
    team = await session.get(Team, sub.team)
    if owner is None or not owner.active or team is None:
        raise DigestUnavailable("the subscription's owner or team no longer exists")
    viewer = await viewer_for(session, owner)
    if not viewer.may_see_team(team.code):
        raise DigestUnavailable(f"{owner.display_name} may no longer see team {team.code}")
    recipient = owner.email if sub.recipient == Recipient.ME else team.email
    if not recipient:
        raise DigestUnavailable(f"no email address for the {sub.recipient} recipient")

    local = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(sub.time_zone))
    today = local.date()
    statistics = await team_statistics(session, viewer, today, case_type=sub.case_type,
                                       teams=[team.code])
    stats = statistics.teams[0]
    case_search = CaseSearch(teams=[team.code], status="open",
                             case_types=[sub.case_type] if sub.case_type else [])
    stmt = search.search_statement(case_search, visible_cases(viewer), Sort("deadline", False), today)
    attachment_name = f"{team.code}-open-cases-{today.isoformat()}.xlsx"
    listed: list[dict[str, Any]] = []
    count = 0

    async def rows():
        nonlocal count
        async for batch in search.stream_batches(session, stmt):
            for row in batch:
                count += 1
                if len(listed) < CASES_IN_BODY:
                    listed.append(dict(row._mapping))
            yield batch

    attachment = None
    if attach:
        with tempfile.TemporaryDirectory(prefix="casework-digest-") as directory:
            path = Path(directory) / attachment_name
            await write_xlsx(path, [COLUMNS[key] for key in DIGEST_COLUMNS], rows())
            attachment = path.read_bytes()
    else:
        async for _ in rows():
            pass

    context = {
        "recipient": {"name": owner.display_name if sub.recipient == Recipient.ME else team.name},
        "team": {"code": team.code, "name": team.name},
        "digest": {"date": today, "schedule": describe_subscription(sub),
                   "case_type": sub.case_type or "", "owner": owner.display_name,
                   "unsubscribe_url": unsubscribe_url(settings, sub.id)},
        "stats": {**stats.model_dump(), "due_soon_until": statistics.due_soon_until},
        "cases": listed,
        "total_cases": count,
        "more": max(count - len(listed), 0),
        "attachment_name": attachment_name,
    }
    # The template in use: an admin's upload to the library (for this case type, or global), else
    # the shipped file.
    template = await template_library.resolve(session, settings.templates_dir, "digest",
                                              Channel.EMAIL, sub.case_type)
    rendered = template.render_email(context)
    return Digest(recipient=recipient, subject=rendered.subject, text=rendered.text,
                  html=rendered.html, case_count=count, attachment_name=attachment_name,
                  attachment=attachment)
