"""Operations find stuck cases within minutes: a case whose workflow task keeps failing, and one
whose activity keeps failing, are listed by GET /operations/stuck-cases (and the first carries
Temporal's TemporalReportedProblems search attribute, which the Web UI filters by)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from api.main import create_app
from casework.cases.search_attributes import CASE_KIND, CASE_REFERENCE
from casework.platform.db import dispose_engine, make_engine, make_sessionmaker
from tests.casefixtures import auth, register
from tests.stuck_workflows import ActivityFailingCase, TaskFailingCase, unreachable_mail_server
from worker import build_worker


def attributes(reference: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(CASE_REFERENCE, reference),
                                  SearchAttributePair(CASE_KIND, "complaint")])


async def test_a_case_whose_task_or_activity_keeps_failing_is_listed_with_what_fails(api, temporal):
    queue = f"stuck-{uuid.uuid4().hex[:8]}"
    task_ref, activity_ref = f"STUCK/{uuid.uuid4().hex[:6]}/26", f"STUCK/{uuid.uuid4().hex[:6]}/26"
    async with Worker(temporal, task_queue=queue, workflows=[TaskFailingCase, ActivityFailingCase],
                      activities=[unreachable_mail_server]):
        await temporal.start_workflow(TaskFailingCase.run, id=task_ref, task_queue=queue,
                                      search_attributes=attributes(task_ref))
        await temporal.start_workflow(ActivityFailingCase.run, id=activity_ref, task_queue=queue,
                                      search_attributes=attributes(activity_ref))
        try:
            found: dict[str, dict] = {}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not {task_ref, activity_ref} <= found.keys():
                await asyncio.sleep(1)
                answer = await api.get("/operations/stuck-cases", params={"min_attempts": 3},
                                       headers=auth("ops"))
                assert answer.status_code == 200, answer.text
                found = {case["reference"]: case for case in answer.json()}
            assert {task_ref, activity_ref} <= found.keys(), found

            [task_problem] = found[task_ref]["problems"]
            assert task_problem["kind"] == "workflow_task" and "WorkflowTaskFailed" in task_problem["what"]
            assert task_problem["attempts"] >= 3 and task_problem["since"]
            assert "a bug in workflow code" in task_problem["last_failure"]
            [activity_problem] = found[activity_ref]["problems"]
            assert activity_problem["kind"] == "activity"
            assert activity_problem["what"] == "unreachable_mail_server" and activity_problem["attempts"] >= 3
            assert "refused the connection" in activity_problem["last_failure"]

            ui_query = f'CaseReference = "{task_ref}" AND TemporalReportedProblems IS NOT NULL'
            assert [w.id async for w in temporal.list_workflows(ui_query)] == [task_ref]
        finally:
            for reference in (task_ref, activity_ref):
                await temporal.get_workflow_handle(reference).terminate("test over")


async def test_a_step_whose_projection_cannot_reach_postgresql_is_listed_and_finishes_when_it_can(
        settings, temporal, engine, api):
    """The projection runs locally first; when PostgreSQL stays unreachable it carries on as a regular
    activity, whose failing attempts the stuck-case list shows (a local activity's would show
    nowhere). When the database is reachable again, the step completes, once."""
    own = settings.model_copy(update={"task_queue": f"unreachable-{uuid.uuid4().hex[:8]}"})
    app = create_app(own, temporal=temporal, engine=engine)
    unreachable = make_engine("postgresql://casework:casework@127.0.0.1:9/nowhere", pool_pre_ping=False)

    def allocate():
        return own_api.post(f"/cases/{ref}/allocate", json={"team": "CENTRAL", "assignee": "drafter"},
                            headers=auth("coordinator", **{"Idempotency-Key": f"allocate-{ref}"}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=120) as own_api:
        async with build_worker(temporal, own, make_sessionmaker(engine)):
            ref = (await register(own_api))["reference"]
        try:
            async with build_worker(temporal, own, make_sessionmaker(unreachable)):
                allocating = asyncio.create_task(allocate())
                problems: list[dict] = []
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and not problems:
                    await asyncio.sleep(1)
                    answer = await api.get("/operations/stuck-cases", params={"min_attempts": 2},
                                           headers=auth("ops"))
                    assert answer.status_code == 200, answer.text
                    problems = next((case["problems"] for case in answer.json() if case["reference"] == ref), [])
                assert [(p["kind"], p["what"]) for p in problems] == [("activity", "project_case")], problems
                assert not allocating.done()
        finally:
            await dispose_engine(unreachable)
        async with build_worker(temporal, own, make_sessionmaker(engine)):
            answer = await allocating
            if answer.status_code == 504:  # not confirmed in time: a client sends it again
                answer = await allocate()
    assert answer.status_code == 200, answer.text
    assert answer.json()["team"] == "CENTRAL"
    timeline = (await api.get(f"/cases/{ref}/timeline", headers=auth("admin"))).json()
    assert [e["kind"] for e in timeline].count("allocated") == 1


async def test_only_operations_and_admins_list_stuck_cases(api):
    assert (await api.get("/operations/stuck-cases", headers=auth("handler"))).status_code == 403
    answer = await api.get("/operations/stuck-cases", headers=auth("admin"))
    assert answer.status_code == 200
    assert all(case["reference"].startswith("STUCK/") or case["problems"] for case in answer.json())
