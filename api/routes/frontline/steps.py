"""The steps on a frontline complaint: resolve at first contact, investigate with a same-day
follow-up, record the follow-up, record a contact by hand, claim an unowned (emailed) one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from api.casesteps import CaseStep, authorised_step
from api.deps import CASE_PATH, SettingsDep
from api.schemas.cases import CaseRead
from api.schemas.frontline import ContactRequest, FollowUpRequest, InvestigateRequest, ResolveRequest
from casework.kinds.frontline.contracts import (
    ClaimInput,
    ContactChannel,
    ContactInput,
    FollowUpInput,
    InvestigateInput,
    ResolveInput,
)
from workflows.frontline import FrontlineWorkflow

router = APIRouter(tags=["frontline"])
CASE = "/cases" + CASE_PATH


@router.post(CASE + "/resolve-contact", response_model=CaseRead)
async def resolve(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.resolve)], body: ResolveRequest) -> Any:
    """Resolve the complaint at first contact (the case closes)."""
    return await case.take(ResolveInput(actor=case.actor(), resolution=body.resolution,
                                        improvement_idea=body.improvement_idea))


@router.post(CASE + "/investigate", response_model=CaseRead)
async def investigate(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.investigate)],
                      body: InvestigateRequest, settings: SettingsDep) -> Any:
    """Open an investigation: the owner gets a follow-up task due by the end of their working day
    (FRONTLINE_DAY_ENDS), escalated to the team lead if it is missed."""
    return await case.take(InvestigateInput(actor=case.actor(), note=body.note,
                                            day_ends_at=settings.frontline_day_ends))


@router.post(CASE + "/follow-up", response_model=CaseRead)
async def record_follow_up(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.record_follow_up)],
                           body: FollowUpRequest) -> Any:
    """Record the follow-up call: the date, whether the customer is satisfied; satisfied closes it
    resolved, otherwise say when to follow up again."""
    return await case.take(FollowUpInput(actor=case.actor(), satisfied=body.satisfied, note=body.note,
                                         resolution=body.resolution, next_follow_up_on=body.next_follow_up_on,
                                         improvement_idea=body.improvement_idea))


@router.post(CASE + "/contacts", response_model=CaseRead)
async def record_contact(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.record_contact)],
                         body: ContactRequest) -> Any:
    """Record another contact on this case by hand (intake routes repeats here by itself)."""
    return await case.take(ContactInput(actor=case.actor(), channel=ContactChannel(body.channel),
                                        summary=body.summary))


@router.post(CASE + "/claim", response_model=CaseRead)
async def claim(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.claim)]) -> Any:
    """Take ownership of a complaint nobody owns yet (an inbound email)."""
    return await case.take(ClaimInput(actor=case.actor()))
