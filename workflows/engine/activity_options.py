"""How long the engine's activities may take and how they are retried."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

PROJECTION_TIMEOUT = timedelta(seconds=30)
DEADLINES_TIMEOUT = timedelta(seconds=30)
CORRESPONDENCE_TIMEOUT = timedelta(minutes=2)
NOTICE_TIMEOUT = CORRESPONDENCE_TIMEOUT
# A projection, letter or email is tried four times as a local activity (1, 2 and 4 seconds apart,
# each attempt up to LOCAL_TIMEOUT), then as a regular one with PATIENT_RETRY
# (CaseParts._local_then_patient).
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=4)
LOCAL_TIMEOUT = timedelta(seconds=30)
# Database or SMTP outages are waited out; permanent faults are raised non-retryable by activities.
PATIENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
