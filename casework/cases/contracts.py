"""Typed payloads passed between the API, the workflow and activities.

Each input and result is its own small pydantic model so fields can be added later without breaking
running workflows (new fields must have defaults). The workflow imports this module through
`workflow.unsafe.imports_passed_through()`.
"""

from __future__ import annotations

import importlib
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, Field, ModelWrapValidatorHandler, SerializeAsAny, model_validator

from casework.calendar.deadlines import breach_instant, start_of_day
from casework.calendar.policies import DeadlinePolicy, ExtensionAnchor


class Channel(StrEnum):
    LETTER = "letter"
    EMAIL = "email"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Sight(BaseModel):
    """Which cases a user may see (the rule is casework/cases/visibility.py; this is its in-memory half).

    The API passes it with every step so that the workflow, which holds the case's current team,
    assignee and contributions, decides "not found" itself: no query per step, and no window in
    which a re-allocated case is still open to its old team."""

    user_id: int
    all_teams: bool
    teams: list[str] = Field(default_factory=list)
    case_types: list[str] | None = None  # None: every case type

    def sees(self, case: CaseCore) -> bool:
        return self.sees_parts(case.case_type.code, case.team, case.assignee_id, case.involved())

    def sees_parts(self, case_type: str, team: str | None, assignee_id: int | None,
                   involved: list[tuple[str | None, int | None]]) -> bool:
        """`involved`: the (team, user) pairs asked to work on the case besides its owner."""
        if self.case_types is not None and case_type not in self.case_types:
            return False
        if self.all_teams or team is None or team in self.teams or assignee_id == self.user_id:
            return True
        return any(t in self.teams or user == self.user_id for t, user in involved)


class Actor(BaseModel):
    """Who asked for a step. The API authenticates; the workflow trusts what the API passes."""

    user_id: int
    username: str
    display_name: str
    roles: list[str] = Field(default_factory=list)
    # The named permissions of case steps this user holds (casework/people/permissions.py); None
    # in histories recorded before permissions, checked by the role rule instead.
    permissions: list[str] | None = None
    # What this user may see; None when the API checked visibility itself (and in old histories).
    sight: Sight | None = None


class Correspondent(BaseModel):
    id: str
    relationship: str = "complainant"
    is_primary: bool = False
    name: str
    email: str | None = None
    phone: str | None = None
    address_lines: list[str] = Field(default_factory=list)
    postcode: str | None = None
    external_reference: str | None = None
    # A representative acts for the complainant only with their letter of authority on file: a
    # response goes to them once it is received (with its document).
    authority_required: bool = False
    authority_received_on: date | None = None
    authority_document_id: str | None = None

    @property
    def lacks_authority(self) -> bool:
        return self.authority_required and self.authority_received_on is None


class PartyLink(BaseModel):
    """A record the case is about (a customer, a lead...), by its type and external id
    (casework/parties); projected to the case_party table."""

    id: str
    party_type: str  # customer | lead
    external_id: str
    role: str = "subject"


class CaseTypeConfig(BaseModel):
    code: str
    name: str
    reference_prefix: str
    stages: list[dict[str, Any]]
    outcome_options: list[str]
    close_reasons: list[str]
    escalation_type: str | None = None
    # DeadlinePolicy data; None means the default preset (see casework.calendar.policies).
    deadline_policy: dict[str, Any] | None = None


class DocumentRef(BaseModel):
    id: str
    kind: str  # attachment | draft | letter | email | response
    filename: str
    content_type: str
    size: int
    sha256: str
    version: int = 1
    purpose: str | None = None
    added_by: str
    added_at: datetime
    # Who added it, by user id (the four-eyes check of a draft's review); None in documents recorded
    # before it was kept, and in those the system made (letters, emails).
    added_by_id: int | None = None




class Note(BaseModel):
    id: str
    text: str
    created_by: str
    created_by_id: int
    created_at: datetime
    edited_by: str | None = None
    edited_at: datetime | None = None


class TimelineEvent(BaseModel):
    id: str
    at: datetime
    actor_id: int | None
    actor_name: str
    kind: str
    summary: str
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # Set when an event belongs on another case's timeline (e.g. "escalated" on the original case).
    case_reference: str | None = None


class ClockPause(BaseModel):
    """The case clock stopped while the complainant was asked for information."""

    id: str
    reason: str
    started_on: date
    # The clock restarts by itself at the end of this day (the latest reply-by date) if no reply came.
    resume_by: date
    clarification_ids: list[str] = Field(default_factory=list)
    ended_on: date | None = None
    end_reason: str | None = None
    paused_days: int = 0  # in the policy's unit; set when the clock restarts


class DeadlineExtension(BaseModel):
    id: str
    anchor: ExtensionAnchor
    working_days: int
    reason: str
    days_added: int  # in the policy's unit
    previous_deadline: date
    new_deadline: date
    granted_by: str
    granted_at: datetime


class ClockRun(BaseModel):
    """A run of the clock that ended with the case answered, before the case was reopened."""

    started_on: date  # the day it was received, or reopened
    deadline: date
    stopped_on: date
    met: bool
    overdue_since: datetime | None = None
    pauses: list[ClockPause] = Field(default_factory=list)
    extensions: list[DeadlineExtension] = Field(default_factory=list)


class CaseClock(BaseModel):
    """The case's response clock. Dates come from the compute_deadlines activity (which owns the
    calendar); the workflow only compares instants with its own clock."""

    policy: DeadlinePolicy
    deadline: date
    warning_on: date
    acknowledgement_due: date | None = None
    stage_deadlines: dict[str, date] = Field(default_factory=dict)
    explanation: str = ""
    calendar_source: str = ""
    calendar_as_of: datetime | None = None  # when the closures the dates count were read
    pauses: list[ClockPause] = Field(default_factory=list)
    extensions: list[DeadlineExtension] = Field(default_factory=list)
    warned_for: date | None = None  # the deadline a warning was sent for
    overdue: bool = False  # past the deadline with no response sent
    overdue_since: datetime | None = None  # kept once the response is sent, as the record of lateness
    escalated_to: str | None = None
    stopped_on: date | None = None  # the response was sent: the clock no longer runs
    # The case was reopened after it was answered: the clock runs again from this day (not the day
    # it was received), under the same policy; the runs before it are kept in `earlier_runs`.
    restarted_on: date | None = None
    earlier_runs: list[ClockRun] = Field(default_factory=list)

    @property
    def open_pause(self) -> ClockPause | None:
        if not self.policy.pause_on_clarification:
            return None
        return next((p for p in self.pauses if p.ended_on is None), None)

    @property
    def warn_at(self) -> datetime:
        return start_of_day(self.warning_on, self.policy.region)

    @property
    def breach_at(self) -> datetime:
        return breach_instant(self.deadline, self.policy.region)

    @property
    def deadline_met(self) -> bool | None:
        return None if self.stopped_on is None else self.stopped_on <= self.deadline


class UnconfirmedDelivery(BaseModel):
    """An email whose send was interrupted: the mail server may or may not have taken it, and it
    is never sent again on its own. It stays on the case until someone confirms it arrived or
    resends it (engine Updates `confirm_delivery`, `resend_delivery`)."""

    id: str  # the email's document id
    business_key: str
    purpose: str
    channel: Channel
    recipient: str | None = None
    message_id: str | None = None
    sent_at: datetime
    # What the email was made from, to make it again.
    extra: dict[str, Any] = Field(default_factory=dict)
    attachment_ids: list[str] = Field(default_factory=list)
    recipients: list[str] = Field(default_factory=list)
    # The task whose assignee this email told (a task notice); None: a letter or email of the case.
    task_id: str | None = None


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Task(BaseModel):
    """Work for a person or a team on a case (an action plan's step, a follow-up, "decide this
    return"), kept by the case's workflow: the engine's task part (workflows/engine/tasks.py)
    opens, closes, reassigns and reschedules it, and its durable timer flags it overdue."""

    id: str
    title: str
    description: str | None = None
    # Who it is for: a team, a person, or a person within a team.
    team: str | None = None
    assignee_id: int | None = None
    assignee_name: str | None = None
    due_on: date
    due_time: time | None = None  # a time on the due day (a same-day follow-up), in the case's region
    due_at: datetime  # the instant it becomes overdue: due_time on due_on, else the end of due_on
    status: TaskStatus = TaskStatus.OPEN
    result: str | None = None  # done: what was done
    cancel_reason: str | None = None
    overdue: bool = False
    overdue_since: datetime | None = None
    created_by: str
    created_by_id: int | None = None  # None: opened by the case itself (e.g. an unconfirmed email)
    created_at: datetime
    closed_by: str | None = None
    closed_by_id: int | None = None
    closed_at: datetime | None = None
    # Counts the task's assignments: each one is emailed once, keyed by it.
    assignment: int = 1
    # What opened it, when the case did (e.g. "delivery:<document id>"): closed when that is done.
    source: str | None = None


class CaseCore(BaseModel):
    """What every kind of case knows about itself: identity, type, where it stands, who has it, the
    parties, its documents and notes, its deadline clock and how it ended. A kind's state subclasses
    it with its own details (`casework/kinds/<kind>/contracts.py`); every list, search, statistic,
    digest and visibility rule reads only these fields. The PostgreSQL projection is a function of
    the whole state."""

    kind: str  # the kind of case: its state class, rules and workflow (see register_state)
    reference: str
    case_type: CaseTypeConfig
    version: int = 0
    status: CaseStatus = CaseStatus.OPEN
    stage: str
    correspondents: list[Correspondent]
    team: str | None = None
    assignee_id: int | None = None
    assignee_name: str | None = None
    documents: list[DocumentRef] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    close_reason: str | None = None
    close_note: str | None = None
    closed_at: datetime | None = None
    registered_by: str
    registered_at: datetime
    escalated_from: str | None = None
    correspondence_count: int = 0
    clock: CaseClock | None = None  # None for cases registered before deadline clocks existed
    unconfirmed_deliveries: list[UnconfirmedDelivery] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    # The records the case is about (empty in cases recorded before parties existed).
    parties: list[PartyLink] = Field(default_factory=list)

    # Child collections the projection writes to their own tables (a kind adds its own).
    COLLECTIONS: ClassVar[tuple[str, ...]] = ("correspondents", "documents", "notes", "tasks", "parties")

    @model_validator(mode="wrap")
    @classmethod
    def _as_its_kind(cls, value: Any, handler: ModelWrapValidatorHandler[CaseCore]) -> CaseCore:
        """A state read where any kind may come (an activity's input, an Update's result) is read
        as its own kind's class, registered by register_state."""
        if cls is CaseCore and isinstance(value, dict):
            # States recorded before kinds existed carry no kind: they are complaints.
            return state_type(value.get("kind", "complaint")).model_validate(value)
        return handler(value)

    @property
    def date_received(self) -> date:
        """The day the case's clock counts from. Each kind says where it keeps it."""
        raise NotImplementedError

    @property
    def complainant(self) -> Correspondent:
        for person in self.correspondents:
            if person.is_primary:
                return person
        return self.correspondents[0]

    def correspondent(self, correspondent_id: str | None) -> Correspondent | None:
        """The correspondent with that id (None: the complainant)."""
        if correspondent_id is None:
            return self.complainant
        return next((c for c in self.correspondents if c.id == correspondent_id), None)

    def involved(self) -> list[tuple[str | None, int | None]]:
        """Teams and people asked to work on the case besides its owner: they may see it too."""
        return []

    def detail_columns(self) -> dict[str, Any]:
        """The kind's own columns of the case's row in PostgreSQL (the complaint's: channel,
        category, severity, description...). A new kind uses `kind_details` instead."""
        return {}

    def kind_details(self) -> dict[str, Any]:
        """The kind's own fields, JSON-ready, kept in the row's `details` (jsonb, GIN-indexed: a
        list filters on them with `@>`) and read as the case read's `details`."""
        return {}

    def category_code(self) -> str:
        """What the case is about in its kind's own terms, as the code it is found by in Temporal
        (search attribute `CaseCategory`): by default the category letters name; a kind whose
        category is a list value's label says its code instead."""
        return self.letter_fields()["category"] or ""

    def party_keys(self) -> list[str]:
        """The records the case is about as "<party type>:<external id>" (search attribute
        `CaseParties`, e.g. `lead:L-5001`)."""
        return [f"{party.party_type}:{party.external_id}" for party in self.parties]

    def letter_fields(self) -> dict[str, str | None]:
        """What letters and emails say the case is about: its category, description and channel
        (the template library's `case.*` fields; empty where a kind has none)."""
        return {"category": None, "description": None, "channel": None}

    def response_document_id(self) -> str | None:
        """The document a final response sends (a kind with a response to send says which)."""
        return None


# Every kind's state class by kind name, filled as each kind's contracts module is imported.
_STATE_TYPES: dict[str, type[CaseCore]] = {}


def state_type(kind: str) -> type[CaseCore]:
    """The state class of `kind` (importing its contracts module, which registers it)."""
    if kind not in _STATE_TYPES:
        importlib.import_module(f"casework.kinds.{kind}.contracts")
    return _STATE_TYPES[kind]


def register_state(cls: type[CaseCore]) -> type[CaseCore]:
    _STATE_TYPES[cls.model_fields["kind"].default] = cls
    return cls




# A case state of whatever kind, in a payload the engine and activities share: read back as its
# kind's class (CaseCore._as_its_kind), written with all of its kind's fields.
AnyCaseState = SerializeAsAny[CaseCore]


class CaseStartCore(BaseModel):
    """What starts a case of any kind; a kind's start adds its own details."""

    reference: str
    case_type: CaseTypeConfig
    correspondents: list[Correspondent]
    attachments: list[DocumentRef] = Field(default_factory=list)
    parties: list[PartyLink] = Field(default_factory=list)
    actor: Actor
    escalated_from: str | None = None
    escalation_reason: str | None = None
    # The team the case is routed to on registration: its type's (None: the triage queue).
    team: str | None = None
    pending_calendar_changes: list[CalendarChange] = Field(default_factory=list)
    # The case's first deadlines, calculated by whoever starts it from the case type's policy and
    # the calendar as it is (casework.calendar.schedules; the API does). None: the workflow asks the
    # deadline activity at registration, as cases started before this existed did.
    schedule: ComputeDeadlinesResult | None = None
    # The behaviour the case runs, a key of workflows.engine.versioning.PATCH_SETS, chosen by
    # whoever starts it (the newest) and carried when it continues as new. None for cases started
    # before it existed: those record and read patch markers.
    patch_set: str | None = None




class CaseSummary(BaseModel):
    reference: str
    status: CaseStatus
    stage: str
    version: int


# ---- Update inputs: one small model per human step ------------------------------------------


class StepInput(BaseModel):
    actor: Actor


class AllocateInput(StepInput):
    team: str
    assignee_id: int | None = None
    assignee_name: str | None = None
    reason: str | None = None








class ChosenLine(BaseModel):
    id: str
    category: str
    topic: str


class TemplateRef(BaseModel):
    """Which template a letter, email or generated draft came from."""

    purpose: str
    channel: Channel
    source: str  # "library" (an uploaded version) | "shipped" (the file under templates/)
    version_id: str | None = None
    version: int | None = None
    case_type: str | None = None  # set for a case-type override

    def describe(self) -> str:
        """e.g. "response letter v3 for COMP" or "response letter (shipped default)"."""
        what = f"{self.purpose} {self.channel.value}"
        if self.source != "library":
            return f"{what} (shipped default)"
        return f"{what} v{self.version} for {self.case_type or 'all case types'}"


class DraftSource(BaseModel):
    """How a generated draft was made: the timeline shows the template version and the lines."""

    template: TemplateRef
    standard_lines: list[ChosenLine] = Field(default_factory=list)


class AddDocumentInput(StepInput):
    document: DocumentRef
    generated_from: DraftSource | None = None







class CloseInput(StepInput):
    reason: str
    note: str | None = None


class CompleteStageInput(StepInput):
    note: str | None = None


class NoteInput(StepInput):
    text: str


class NoteEditInput(StepInput):
    note_id: str
    text: str


class ExtendDeadlineInput(StepInput):
    anchor: ExtensionAnchor
    working_days: int
    reason: str


class ConfirmDeliveryInput(StepInput):
    delivery_id: str
    note: str


class ResendDeliveryInput(StepInput):
    delivery_id: str
    reason: str


class TaskAssignee(BaseModel):
    """Who a task is for, as the API resolved it (a team, a person, or both)."""

    team: str | None = None
    assignee_id: int | None = None
    assignee_name: str | None = None


class AddTaskInput(StepInput):
    title: str
    description: str | None = None
    assignee: TaskAssignee
    due_on: date
    due_time: time | None = None


class CompleteTaskInput(StepInput):
    task_id: str
    result: str


class CancelTaskInput(StepInput):
    task_id: str
    reason: str


class ReassignTaskInput(StepInput):
    task_id: str
    assignee: TaskAssignee
    reason: str | None = None


class RescheduleTaskInput(StepInput):
    task_id: str
    due_on: date
    due_time: time | None = None
    reason: str | None = None


class ChangeTypeInput(StepInput):
    case_type: CaseTypeConfig
    reason: str


class CalendarChange(BaseModel):
    """Signal `calendar_changed`: the region's closed days changed; recompute open cases.

    `calendar_as_of`: the database's clock once the change was committed, so the recalculation
    each case runs may reuse closures its worker read since then instead of reading them for every
    case (`casework.calendar.schedules`). None from senders before it existed: read them."""

    region: str
    description: str
    requested_by: str
    calendar_as_of: datetime | None = None


class CalendarChangeRun(CalendarChange):
    """Input of CalendarChangeWorkflow; the paging fields carry over continue-as-new."""

    after_reference: str = ""
    signalled: int = 0


# ---- What registration hands a new case --------------------------------------------------

class ComputeDeadlinesResult(BaseModel):
    deadline: date
    warning_on: date
    acknowledgement_due: date | None = None
    stage_deadlines: dict[str, date] = Field(default_factory=dict)
    paused_days: list[int] = Field(default_factory=list)
    explanation: str = ""
    calendar_source: str = ""
    calendar_as_of: datetime | None = None  # the closures counted were read then (the database's clock)
    # Only when an extension was asked for: the days it adds, or why it is refused.
    extension_days_added: int | None = None
    refusal_field: str | None = None
    refusal: str | None = None


CaseStartCore.model_rebuild()  # its schedule's model is defined above, after it
