"""Which behaviour a case runs: patch ids, and the sets of them a case is started with.

New behaviour goes behind a patch so recorded histories still replay (tests/test_replay.py replays
one of every kind of case). A case started by this version names its behaviour in its input
(`CaseStartCore.patch_set`: the newest set) and records no marker; older cases ask the markers.
See docs/versioning.md. Kind authors add a patch here only when they change a step's commands.
"""

from __future__ import annotations

from temporalio import workflow

# Cases registered before deadline clocks existed replay without them.
CLOCK_PATCH = "deadline-clocks"
# The projection runs as a local activity.
LOCAL_PROJECTION = "projection-as-local-activity"
# A step upserts only the search attributes it changed (a note changes none), which spares the
# server a visibility write and the history an event per step.
CHANGED_SEARCH_ATTRIBUTES = "upsert-changed-search-attributes-only"
LOCAL_DEADLINES = "deadlines-as-local-activity"
# Contribution requests go out by letter or email; older histories recorded them without sending.
CONTRIBUTION_REQUESTS_SENT = "contribution-requests-sent"
# Letters and emails go out through a local activity first (see engine.correspondence).
LOCAL_CORRESPONDENCE = "correspondence-as-local-activity"
# A case closed with an email awaiting confirmation keeps running until it is confirmed or resent.
SETTLED_BEFORE_ENDING = "settle-deliveries-before-ending"
# A task's email whose send was interrupted waits on the case to be confirmed or resent, like a
# letter's; older runs only noted it on the timeline.
TASK_NOTICES_SETTLED = "task-notices-settled"
# A step shows what the case is about in Temporal too (search attributes CaseCategory and
# CaseParties); older runs upserted neither.
PARTY_AND_CATEGORY_ATTRIBUTES = "party-and-category-search-attributes"
# A case reopened once answered (a lead complaint disputed after it was resolved) restarts its
# deadline clock; older runs left it stopped.
CLOCK_RESTARTS_ON_REOPENING = "clock-restarts-on-reopening"
# A kind's duties (task emails, a lead return's postings, a customer complaint's sales adjustment)
# run as a local activity first, like letters and emails; older runs scheduled a regular one.
LOCAL_DUTIES = "duties-as-local-activity"

# One marker standing for a set of patches. Each patch costs a run a marker event and the
# TemporalChangeVersion upsert the SDK adds to it (a visibility write on the server); a case
# started by this version records one marker, the newest, instead of one per patch. A run asks for
# the newest marker first, so one recorded under an older marker keeps that marker's set.
_PATCHES_V1 = frozenset({CLOCK_PATCH, LOCAL_PROJECTION, CHANGED_SEARCH_ATTRIBUTES, LOCAL_DEADLINES,
                         CONTRIBUTION_REQUESTS_SENT})
_PATCHES_V5 = _PATCHES_V1 | {LOCAL_CORRESPONDENCE, SETTLED_BEFORE_ENDING, TASK_NOTICES_SETTLED,
                             PARTY_AND_CATEGORY_ATTRIBUTES, CLOCK_RESTARTS_ON_REOPENING}
PATCH_SETS: dict[str, frozenset[str]] = {  # newest first
    "case-patches-v6": _PATCHES_V5 | {LOCAL_DUTIES},
    "case-patches-v5": _PATCHES_V5,
    "case-patches-v4": _PATCHES_V1 | {LOCAL_CORRESPONDENCE, SETTLED_BEFORE_ENDING, TASK_NOTICES_SETTLED},
    "case-patches-v3": _PATCHES_V1 | {LOCAL_CORRESPONDENCE, SETTLED_BEFORE_ENDING},
    "case-patches-v2": _PATCHES_V1 | {LOCAL_CORRESPONDENCE},
    "case-patches-v1": _PATCHES_V1,
}
ALL_PATCHES = next(iter(PATCH_SETS))  # the behaviour a new case is started with (CaseStart.patch_set)


def patches_of(patch_set: str | None) -> frozenset[str]:
    """The patches a run applies. A case started with its behaviour named in its input runs that
    behaviour and records no marker (a marker costs the server a visibility write for its
    TemporalChangeVersion upsert). Otherwise the markers are asked before anything else, so a run
    that predates them answers False for its whole life and keeps asking for each patch where it
    always did."""
    named = PATCH_SETS.get(patch_set) if patch_set else None
    if named is not None:
        return named
    return next((patches for marker, patches in PATCH_SETS.items() if workflow.patched(marker)), frozenset())
