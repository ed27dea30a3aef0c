"""Determinism: recorded workflow histories must replay against the current workflow code.

tests/histories/*.json are histories recorded from real runs (full walk, QA reject loop, early
close, escalation; and, from tests/test_deadline_clocks.py, deadline clocks with warning, breach,
stop-the-clock). A change to ComplaintCaseWorkflow that would break running cases fails here.
Record new histories (existing files are kept) with:  RECORD_HISTORIES=1 make test PYTEST_ARGS=tests/test_replay.py
(or RECORD_HISTORIES=<label> to record a new set under names starting with the label).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from casework.platform import sdk_fastpath
from casework.platform.config import Settings
from casework.platform.workflow_runner import LeanWorkflowRunner, workflow_runner_named
from tests.casefixtures import auth, register, step, upload_draft, walk_to_draft, walk_to_qa
from workflows.registry import WORKFLOWS
from workflows.engine.versioning import ALL_PATCHES

HISTORIES = Path(__file__).parent / "histories"


def replayer(**options) -> Replayer:
    """Replays as production's default runner runs (Temporal's sandbox, our pure modules passed
    through, workflow code re-imported and checked), unless `workflow_runner` says otherwise."""
    sdk_fastpath.install()  # as the worker runs (casework/platform/sdk_fastpath.py)
    options.setdefault("workflow_runner", workflow_runner_named(Settings.model_fields["workflow_runner"].default))
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, **options)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


class RecordingLeanRunner(LeanWorkflowRunner):
    """The lean runner unsandboxed (WORKFLOW_RUNNER=lean-unsandboxed, the only way it reaches the
    instance's attributes), keeping the instances it made."""

    def __init__(self) -> None:
        super().__init__()
        self.instances: list = []

    def create_instance(self, det):
        instance = super().create_instance(det)
        self.instances.append(instance)
        return instance


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays_through_the_lean_runner(path: Path):
    """The runner that spares a cached case the SDK's last messages (casework/platform/workflow_runner.py)
    changes nothing a workflow does, and still finds the SDK attributes it replaces."""
    runner = RecordingLeanRunner()
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer(workflow_runner=runner).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
    (instance,) = runner.instances
    assert instance._current_completion.ByteSize() == 0  # not the last completion, with its payloads
    assert type(instance._current_internal_flags) is list  # not a field of the last activation
    assert type(instance._workflow_input.headers) is dict  # not the first activation's map
    assert all(type(value).__name__ == "Payload" for value in instance._workflow_input.headers.values())


async def _full_walk(api) -> str:
    case = await walk_to_qa(api)
    ref = case["reference"]
    await step(api, ref, "qa/reject", "qa", {"reason": "Needs an apology"})
    await upload_draft(api, ref, text="We apologise.")
    await step(api, ref, "submit-draft", "drafter")
    await step(api, ref, "qa/approve", "qa")
    await step(api, ref, "send", "drafter", {"channel": "letter"})
    await step(api, ref, "outcome", "drafter", {"outcome": "partly upheld", "detail": "Apology given"})
    await step(api, ref, "close", "drafter", {"reason": "response sent"})
    return ref


async def _clarify_contribute_and_escalate(api) -> list[str]:
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await step(api, ref, "acknowledge", "drafter", {"channel": "email"})
    soon = (date.today() + timedelta(days=7)).isoformat()
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "letter", "questions": "When?", "reply_by": soon})
    await step(api, ref, f"clarifications/{case['clarifications'][0]['id']}/reply", "drafter",
               {"reply": "Tuesday"})
    case = await step(api, ref, "contributions", "drafter",
                      {"team": "BILLING", "request": "Check", "due_date": soon})
    await step(api, ref, f"contributions/{case['contributions'][0]['id']}/complete", "drafter",
               {"details": "Checked"})
    case = await step(api, ref, "notes", "drafter", {"text": "note"})
    await api.patch(f"/cases/{ref}/notes/{case['notes'][0]['id']}", json={"text": "edited"},
                    headers={"Authorization": "Bearer demo-drafter-token"})
    await step(api, ref, "close", "coordinator", {"reason": "withdrawn", "note": "Withdrawn"})
    stage2 = await step(api, ref, "escalate", "coordinator", {"reason": "Disputed"}, expect=201)
    return [ref, stage2["reference"]]


async def _deadlines_walk(api) -> str:
    """Clock paused and restarted, an extension, a change of type, the clock stopped by sending."""
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await step(api, ref, "acknowledge", "drafter", {"channel": "letter"})
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "letter", "questions": "When?",
                       "reply_by": (date.today() + timedelta(days=7)).isoformat()})
    await step(api, ref, f"clarifications/{case['clarifications'][0]['id']}/reply", "drafter", {"reply": "Monday"})
    await step(api, ref, "extend", "drafter", {"from": "deadline", "working_days": 5, "reason": "Complex"})
    await step(api, ref, "change-type", "manager", {"case_type": "COMP2", "reason": "Reviewed as stage 2"})
    await upload_draft(api, ref)
    await step(api, ref, "submit-draft", "drafter")
    await step(api, ref, "qa/approve", "qa")
    await step(api, ref, "send", "drafter", {"channel": "letter"})
    return ref


def _patch_markers(history: WorkflowHistory) -> list[str]:
    """The patch ids of the history's patch markers, in order."""
    return [
        json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


async def test_fresh_histories_replay(api, temporal):
    references = [await _full_walk(api), *await _clarify_contribute_and_escalate(api), await _deadlines_walk(api)]
    for reference in references:
        history = await temporal.get_workflow_handle(reference).fetch_history()
        await replayer().replay_workflow(history)
        # A new case is started with its behaviour named (the newest) and records no patch marker,
        # so no TemporalChangeVersion upsert either, however many patched paths its walk takes.
        assert _patch_markers(history) == [], reference
        assert json.loads(history.events[0].workflow_execution_started_event_attributes.input
                          .payloads[0].data)["patch_set"] == ALL_PATCHES
        label = os.environ.get("RECORD_HISTORIES")
        if label:
            # Never overwrite: a history recorded by older code guards the paths that code took.
            # RECORD_HISTORIES=<label> names a new set after the change it records.
            name = reference.replace('/', '-') if label == "1" else f"{label}-{reference.replace('/', '-')}"
            path = HISTORIES / f"{name}.json"
            if not path.exists():
                path.write_text(history.to_json())


async def _letters_emails_and_generated_draft(api) -> str:
    """Requests by letter and email, replies with files, a generated draft, the response emailed."""
    line = await api.post("/standard-lines", headers=auth("admin"), json={
        "category": "Billing", "topic": "Replay refunds", "text": "Refunds take five days.",
        "expires_on": (date.today() + timedelta(days=30)).isoformat()})
    case = await walk_to_draft(api)
    ref = case["reference"]
    soon = (date.today() + timedelta(days=7)).isoformat()
    upload = await api.post("/uploads", files={"file": ("reply.txt", b"my reply", "text/plain")},
                            headers=auth("drafter"))
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "letter", "questions": "When?", "reply_by": soon})
    await step(api, ref, f"clarifications/{case['clarifications'][0]['id']}/reply", "drafter",
               {"reply": "Tuesday", "attachment_ids": [upload.json()["upload_id"]]})
    await step(api, ref, "contributions", "drafter",
               {"team": "BILLING", "request": "Check", "due_date": soon})
    case = await step(api, ref, "contributions", "drafter",
                      {"team": "SERVICE", "request": "Log?", "due_date": soon, "channel": "letter"})
    for item in case["contributions"]:
        await step(api, ref, f"contributions/{item['id']}/complete", "drafter", {"details": "Done"})
    await step(api, ref, "draft-response", "drafter", {"standard_line_ids": [line.json()["id"]]})
    await step(api, ref, "submit-draft", "drafter")
    await step(api, ref, "qa/approve", "qa")
    await step(api, ref, "send", "drafter", {"channel": "email"})
    return ref


async def test_fresh_letters_and_templates_history_replays(api, temporal):
    reference = await _letters_emails_and_generated_draft(api)
    history = await temporal.get_workflow_handle(reference).fetch_history()
    await replayer().replay_workflow(history)
    label = os.environ.get("RECORD_HISTORIES")
    if label:
        # Never overwrite (as above): the file recorded by older code guards the paths it took.
        name = "letters-emails-generated-draft" if label == "1" else f"{label}-letters-emails-generated-draft"
        path = HISTORIES / f"{name}.json"
        if not path.exists():
            path.write_text(history.to_json())


async def test_a_case_started_without_a_known_behaviour_records_the_newest_marker(api, temporal, settings, engine):
    """A starter that names no behaviour this worker knows (an older API mid-deploy sends none)
    leaves the choice to the worker: the newest, recorded as a patch marker as before."""
    from api.routes.cases import start_case
    from casework.cases.contracts import Actor, CaseTypeConfig, Correspondent
    from casework.kinds.complaint.contracts import CaseDetails, CaseStart
    from devtools.demo import CASE_TYPES

    comp = next(t for t in CASE_TYPES if t["code"] == "COMP")
    start = CaseStart(
        reference=f"COMP/9{uuid.uuid4().int % 10**5:05d}/26", patch_set="case-patches-from-the-future",
        case_type=CaseTypeConfig(**{k: comp[k] for k in CaseTypeConfig.model_fields if k in comp}),
        details=CaseDetails(channel="email", category="Billing", severity="low",
                            description="Charged twice", date_received=date.today()),
        correspondents=[Correspondent(id=str(uuid.uuid4()), is_primary=True, name="Marker Case",
                                      email="marker@example.net")],
        actor=Actor(user_id=1, username="handler", display_name="Hana Handler", roles=["handler"]))
    state = await start_case(temporal, engine, settings.task_queue, start)
    assert state is not None and state.clock is not None
    history = await temporal.get_workflow_handle(start.reference).fetch_history()
    assert _patch_markers(history) == [ALL_PATCHES]
    await replayer().replay_workflow(history)
