"""Service improvement ideas and their fortnightly senior-management review (a Temporal Schedule
that emails the agenda)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError

from api import errors
from api.deps import CurrentUser, IdempotencyKey, SessionDep, SettingsDep, TemporalDep, ViewerDep, require_permission
from api.schemas.frontline import (
    ImprovementComment,
    ImprovementCreate,
    ImprovementRead,
    ImprovementStatus,
    ImprovementStatusChange,
    ImprovementStepRead,
    ReviewScheduleIn,
    ReviewScheduleRead,
)
from casework.cases.visibility import visible_cases
from casework.kinds.frontline.contracts import AgendaRequest
from casework.kinds.frontline.rules import IMPROVEMENT_STEPS, PROPOSE_IMPROVEMENT, REVIEW_IMPROVEMENTS, RULES
from casework.platform.db import CaseRecord
from casework.tables.frontline import ServiceImprovement, ServiceImprovementStep
from workflows.frontline import ImprovementReviewWorkflow

router = APIRouter(tags=["frontline"])
PROPOSE = RULES.permission(PROPOSE_IMPROVEMENT)
REVIEW = RULES.permission(REVIEW_IMPROVEMENTS)


REVIEW_SCHEDULE_ID = "frontline-improvement-review"


async def _improvement_read(session: AsyncSession, item: ServiceImprovement) -> ImprovementRead:
    steps = (await session.scalars(select(ServiceImprovementStep).where(
        ServiceImprovementStep.improvement_id == item.id).order_by(ServiceImprovementStep.id))).all()
    return ImprovementRead.model_validate({**{c: getattr(item, c) for c in (
        "id", "case_reference", "title", "description", "status", "proposed_by", "proposed_at")},
        "steps": [ImprovementStepRead.model_validate(s) for s in steps]})


async def _improvement(session: AsyncSession, improvement_id: str) -> ServiceImprovement:
    item = await session.get(ServiceImprovement, improvement_id[:36], with_for_update=True)
    if item is None:
        raise errors.not_found(f"service improvement {improvement_id[:36]}")
    return item


@router.post("/frontline/improvements", status_code=status.HTTP_201_CREATED, response_model=ImprovementRead)
async def propose_improvement(body: ImprovementCreate, user: CurrentUser, viewer: ViewerDep, session: SessionDep,
                              idempotency_key: IdempotencyKey = None) -> Any:
    """Propose a service improvement idea, from a frontline complaint or on its own: it goes on the
    next fortnightly review's agenda."""
    require_permission(user, PROPOSE, "proposing a service improvement")
    if body.case_reference is not None:
        seen = await session.scalar(select(CaseRecord.reference).where(
            CaseRecord.reference == body.case_reference, CaseRecord.kind == "frontline", visible_cases(viewer)))
        if seen is None:
            raise errors.unprocessable("case_reference", f"no frontline complaint {body.case_reference}")
    improvement_id = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"improvement/{user.id}/{idempotency_key}"))
                      if idempotency_key else str(uuid.uuid4()))
    item = await session.get(ServiceImprovement, improvement_id)
    if item is None:  # a retry finds the one it made
        item = ServiceImprovement(id=improvement_id, case_reference=body.case_reference, title=body.title,
                                  description=body.description, status="proposed", proposed_by=user.display_name)
        session.add(item)
        session.add(ServiceImprovementStep(improvement_id=improvement_id, actor=user.display_name, kind="status",
                                           from_status=None, to_status="proposed", note=None))
        await session.commit()
    return await _improvement_read(session, item)


@router.get("/frontline/improvements", response_model=list[ImprovementRead])
async def list_improvements(user: CurrentUser, session: SessionDep,
                            status_: Annotated[ImprovementStatus | None, Query(alias="status")] = None) -> Any:
    """Service improvement ideas, oldest first, with their review history."""
    require_permission(user, PROPOSE, "reading service improvements")
    stmt = select(ServiceImprovement).order_by(ServiceImprovement.proposed_at, ServiceImprovement.id)
    if status_ is not None:
        stmt = stmt.where(ServiceImprovement.status == status_)
    return [await _improvement_read(session, item) for item in (await session.scalars(stmt)).all()]


@router.post("/frontline/improvements/{improvement_id}/status", response_model=ImprovementRead)
async def change_improvement_status(improvement_id: str, body: ImprovementStatusChange, user: CurrentUser,
                                    session: SessionDep) -> Any:
    """Record the review's outcome for an idea: discussed at the meeting, the proposed solution sent
    to the wider team for comment, the final solution agreed, implemented, or rejected (with a note)."""
    require_permission(user, REVIEW, "recording the service improvement review's outcome")
    item = await _improvement(session, improvement_id)
    allowed = IMPROVEMENT_STEPS.get(item.status, frozenset())
    if body.status not in allowed:
        may = f"; it may become: {', '.join(sorted(allowed))}" if allowed else ""
        raise errors.stage_conflict(f"an idea that is {item.status.replace('_', ' ')} cannot become "
                                    f"{body.status.replace('_', ' ')}{may}", item.status)
    if body.status == "rejected" and not body.note:
        raise errors.unprocessable("note", "say why the idea is rejected")
    session.add(ServiceImprovementStep(improvement_id=item.id, actor=user.display_name, kind="status",
                                       from_status=item.status, to_status=body.status, note=body.note))
    item.status, item.updated_at = body.status, datetime.now(timezone.utc)
    await session.commit()
    return await _improvement_read(session, item)


@router.post("/frontline/improvements/{improvement_id}/comments", response_model=ImprovementRead)
async def comment_on_improvement(improvement_id: str, body: ImprovementComment, user: CurrentUser,
                                 session: SessionDep) -> Any:
    """The wider team's comment on a proposed solution (while it is out for comment)."""
    require_permission(user, PROPOSE, "commenting on a service improvement")
    item = await _improvement(session, improvement_id)
    if item.status != "out_for_comment":
        raise errors.stage_conflict(f"the idea is {item.status.replace('_', ' ')}, not out for comment", item.status)
    session.add(ServiceImprovementStep(improvement_id=item.id, actor=user.display_name, kind="comment",
                                       from_status=item.status, to_status=item.status, note=body.text))
    await session.commit()
    return await _improvement_read(session, item)


@router.put("/frontline/review-schedule", response_model=ReviewScheduleRead)
async def set_review_schedule(body: ReviewScheduleIn, user: CurrentUser, client: TemporalDep,
                              settings: SettingsDep) -> Any:
    """Set up the review's Temporal Schedule: every `every_days` (a fortnight) it emails the agenda
    (new ideas, ideas awaiting a decision, complaints by issue since the last review) to the
    reviewers. Setting it again replaces the reviewers and the interval."""
    require_permission(user, REVIEW, "setting up the service improvement review")
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ImprovementReviewWorkflow.run, AgendaRequest(reviewers=body.reviewers, every_days=body.every_days),
            id=REVIEW_SCHEDULE_ID, task_queue=settings.task_queue, execution_timeout=timedelta(hours=12),
            static_summary="Service improvement review agenda"),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=body.every_days))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note=f"service improvement review every {body.every_days} days to "
                                 f"{len(body.reviewers)} reviewer(s)"))
    try:
        try:
            await client.create_schedule(REVIEW_SCHEDULE_ID, schedule)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(REVIEW_SCHEDULE_ID).update(lambda _: ScheduleUpdate(schedule=schedule))
    except RPCError as exc:
        raise errors.temporal_unreachable(exc) from exc
    return ReviewScheduleRead(schedule_id=REVIEW_SCHEDULE_ID, reviewers=body.reviewers, every_days=body.every_days)
