"""Activities: every side effect (case projection, letters, emails, digest emails)."""

from __future__ import annotations

from typing import Callable

from sqlalchemy.ext.asyncio import async_sessionmaker

from activities.correspondence import AfterSmtpSend, CorrespondenceActivities
from activities.deadlines import DeadlineActivities
from activities.digest import DigestActivities
from activities.projection import ProjectionActivities
from casework.platform.config import Settings


def build_activities(sessionmaker: async_sessionmaker, settings: Settings, *,
                     after_smtp_send: AfterSmtpSend | None = None) -> list[Callable]:
    """``after_smtp_send`` is a fault-injection hook for tests; see activities.correspondence."""
    projection = ProjectionActivities(sessionmaker)
    correspondence = CorrespondenceActivities(sessionmaker, settings, after_smtp_send=after_smtp_send)
    digests = DigestActivities(sessionmaker, settings)
    deadlines = DeadlineActivities(sessionmaker, settings)
    return [projection.project_case, correspondence.dispatch_correspondence, digests.send_digest,
            deadlines.compute_deadlines, deadlines.notify_deadline, deadlines.list_open_cases]
