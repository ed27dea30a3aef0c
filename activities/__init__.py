"""Activities: every side effect of a case (database projection, letters, emails)."""

from __future__ import annotations

from typing import Callable

from sqlalchemy.ext.asyncio import async_sessionmaker

from activities.correspondence import AfterSmtpSend, CorrespondenceActivities
from activities.projection import ProjectionActivities
from casework.config import Settings


def build_activities(sessionmaker: async_sessionmaker, settings: Settings, *,
                     after_smtp_send: AfterSmtpSend | None = None) -> list[Callable]:
    """``after_smtp_send`` is a fault-injection hook for tests; see activities.correspondence."""
    projection = ProjectionActivities(sessionmaker)
    correspondence = CorrespondenceActivities(sessionmaker, settings, after_smtp_send=after_smtp_send)
    return [projection.project_case, correspondence.dispatch_correspondence]
