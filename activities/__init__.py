"""Activities: every side effect (case projection, letters, emails, digest emails).

Each kind of case may add a module here named as in the kinds registry (`casework.kinds.KINDS`)
which registers its projection tables and whose `activities()` (or `activities(sessionmaker, settings)`)
lists its own activities."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from sqlalchemy.ext.asyncio import async_sessionmaker

from activities.correspondence import AfterSmtpSend, CorrespondenceActivities
from activities.deadlines import DeadlineActivities
from activities.digest import DigestActivities
from activities.projection import ProjectionActivities
from activities.tasks import AfterTaskEmail, TaskActivities
from casework.kinds import KINDS
from casework.platform.config import Settings


def build_activities(sessionmaker: async_sessionmaker, settings: Settings, *,
                     after_smtp_send: AfterSmtpSend | None = None,
                     after_task_email: AfterTaskEmail | None = None,
                     kind_hooks: dict[str, dict[str, Any]] | None = None) -> list[Callable]:
    """``after_smtp_send`` and ``after_task_email`` are fault-injection hooks for tests; see
    activities.correspondence and activities.tasks. ``kind_hooks``: a kind's own, by kind, passed
    to its ``activities()``."""
    projection = ProjectionActivities(sessionmaker)
    correspondence = CorrespondenceActivities(sessionmaker, settings, after_smtp_send=after_smtp_send)
    digests = DigestActivities(sessionmaker, settings)
    deadlines = DeadlineActivities(sessionmaker, settings)
    tasks = TaskActivities(sessionmaker, settings, after_send=after_task_email)
    kinds: list[Callable] = []
    for kind in KINDS:
        # A kind's activities() takes the sessionmaker and settings when its activities need them
        # (and the test's fault-injection hooks for that kind, if any).
        make = importlib.import_module(f"activities.{kind}").activities
        hooks = (kind_hooks or {}).get(kind, {})
        kinds += make(sessionmaker, settings, **hooks) if inspect.signature(make).parameters else make()
    return [projection.project_case, correspondence.dispatch_correspondence, digests.send_digest,
            deadlines.compute_deadlines, deadlines.notify_deadline, deadlines.list_open_cases,
            deadlines.signal_open_cases,
            tasks.notify_task_assignee, *kinds]
