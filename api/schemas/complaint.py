"""The complaint's own step bodies (F1): acknowledgement, clarifications, contributions, the draft
response, sending it, the holding response and the outcome."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from api.schemas.base import (
    CategoryText,
    CodeText,
    DueDate,
    DueOrPastDate,
    PastDate,
    ShortText,
    Strict,
    Text,
    UploadIds,
)
from casework.cases.contracts import Channel
from casework.kinds.complaint.contracts import ResponseChannel


class AcknowledgeRequest(Strict):
    channel: Channel


class ClarificationRequest(Strict):
    channel: Channel | None = Field(description="letter or email (sent now by the case), or null to "
                                    "record a request sent outside the system on sent_on")
    questions: Text
    reply_by: DueDate
    sent_on: PastDate | None = Field(None, description="the day it was sent (today if left out): the "
                                     "clock stops from that day; before today only with channel null")


class ClarificationReply(Strict):
    reply: Text
    received_on: PastDate | None = None
    attachment_ids: UploadIds = Field(default_factory=list)


class ContributionRequest(Strict):
    team: CodeText
    assignee: ShortText | None = None
    request: Text
    due_date: DueOrPastDate = Field(description="when it is due; a date already past (recording a "
                                    "request made earlier) makes it overdue at once")
    kind: CodeText | None = Field(None, description="what kind of contribution: a code of the "
                                  "complaint_contribution_kinds list (GET /lists/complaint_contribution_kinds)")
    channel: Channel | None = Field(
        Channel.EMAIL,
        description="email (to the person asked, else the team's address), letter, or null to "
        "record the request without sending anything",
    )


class ContributionComplete(Strict):
    details: Text
    received_on: PastDate | None = Field(None, description="the day the contribution actually came in")
    attachment_ids: UploadIds = Field(default_factory=list)


class DraftResponseRequest(Strict):
    standard_line_ids: list[Annotated[str, StringConstraints(max_length=36)]] = Field(
        default_factory=list, max_length=50, description="live standard lines, in the order wanted")
    summary: Text | None = Field(None, description="the drafter's own opening text")


class AuthorityRequest(Strict):
    received_on: PastDate = Field(description="the day the letter of authority arrived")
    upload_id: Annotated[str, StringConstraints(max_length=36)] = Field(
        description="the letter itself, uploaded first with POST /uploads")


class SendBackRequest(Strict):
    reason: Text = Field(description="why (on the timeline and in the queue)")


class SendRequest(Strict):
    to: Annotated[str, StringConstraints(max_length=36)] | None = Field(
        None, description="a correspondent's id to address it to (a representative, whose letter of "
        "authority must be on file); the complainant if left out")
    channel: ResponseChannel = Field(description="letter or email (sent by the case), or telephone or "
                                     "in_person (given; the approved response document records it)")
    sent_on: PastDate | None = Field(None, description="the day it was sent or given (today if left out); "
                                     "not in the future, not before the case was received")


class HoldingResponseRequest(Strict):
    channel: Channel
    reason: Text = Field(description="why the final response is late (goes into the letter or email)")
    new_due_date: DueDate = Field(description="when the complainant can now expect the final response")


class OutcomeRequest(Strict):
    outcome: CategoryText
    detail: Text
    redress_amount: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
