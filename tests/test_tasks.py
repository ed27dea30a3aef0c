"""Tasks for people on a case, through the HTTP API on the real services: added, completed,
cancelled (409 once closed), reassigned and rescheduled; the assignee emailed once per assignment;
"my tasks" and "my team's tasks" in order and only on cases one may see; overdue flagged by the
case's own timer (time-skipping); an email whose delivery was not confirmed opens a task."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from casework.calendar.deadlines import breach_instant
from casework.calendar.workdays import Region
from tests.casefixtures import auth, case_path, register, step, uk_today
from tests.test_deadline_clocks import Clock, clock, open_case, record_history  # noqa: F401 (the fixture)
from tests.test_delivery import crash_after_each_first, own_stack


def due(days: int) -> str:
    return (uk_today() + timedelta(days=days)).isoformat()


def task_mail(mailbox, address: str, ref: str) -> list:
    return [m for m in mailbox.to(address) if ref in str(m["Subject"]) and "Task for you" in str(m["Subject"])]


async def allocated_case(api, team: str = "CENTRAL", assignee: str | None = "drafter") -> str:
    ref = (await register(api))["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": team, **({"assignee": assignee} if assignee else {})})
    return ref


async def tasks(api, user: str, **params) -> list[dict]:
    response = await api.get("/tasks", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_task_is_added_emailed_once_completed_and_then_refused_with_409(api, mailbox):
    ref = await allocated_case(api)
    body = {"title": "Call the complainant back", "description": "Ask for the March statement",
            "team": "CENTRAL", "assignee": "drafter2", "due_date": due(2)}
    key = {"Idempotency-Key": f"task-{uuid.uuid4()}"}
    case = await step(api, ref, "tasks", "drafter", body, **key)
    again = await step(api, ref, "tasks", "drafter", body, **key)  # a retried request: one task, one email
    [task] = again["tasks"]
    assert case["tasks"] == again["tasks"]
    assert task["status"] == "open" and task["assignee_name"] == "Dina Drafter" and task["team"] == "CENTRAL"
    assert task["due_on"] == due(2) and not task["overdue"] and task["created_by"] == "Dev Drafter"
    assert {"complete_task", "cancel_task", "reassign_task", "reschedule_task"} <= set(case["allowed_actions"])
    [mail] = task_mail(mailbox, "drafter2@example.org", ref)
    assert "Call the complainant back" in str(mail["Subject"])
    assert "Ask for the March statement" in mail.get_body(("plain",)).get_content()

    done = await step(api, ref, f"tasks/{task['id']}/complete", "drafter2",
                      {"result": "Called; statement on its way"})
    [closed] = done["tasks"]
    assert closed["status"] == "done" and closed["result"] == "Called; statement on its way"
    assert closed["closed_by"] == "Dina Drafter" and closed["closed_at"]
    assert "complete_task" not in done["allowed_actions"]  # no open task left
    for action, payload in (("complete", {"result": "again"}), ("cancel", {"reason": "r"}),
                            ("reschedule", {"due_date": due(3)})):
        refused = await step(api, ref, f"tasks/{task['id']}/{action}", "drafter", payload, expect=409)
        assert "already done" in refused["detail"]["message"]

    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    kinds = [e["kind"] for e in timeline]
    assert kinds.count("task_added") == 1 and kinds.count("task_completed") == 1
    added = next(e for e in timeline if e["kind"] == "task_added")
    assert added["data"]["emailed"] == "drafter2@example.org" and added["data"]["delivery_confirmed"] is True
    assert len(task_mail(mailbox, "drafter2@example.org", ref)) == 1


async def test_bad_tasks_are_refused_naming_the_field(api):
    ref = await allocated_case(api)
    good = {"title": "Check the ledger", "team": "CENTRAL", "due_date": due(1)}
    for change, field in (({"team": None}, "assignee"), ({"due_date": due(-1)}, "due_date"),
                          ({"title": "Nul\u0000"}, "title"), ({"title": "x" * 201}, "title"),
                          ({"team": "NOWHERE"}, "team"), ({"team": None, "assignee": "nobody"}, "assignee"),
                          # the handler (SERVICE) cannot see a CENTRAL case: the task would be on no list
                          ({"team": None, "assignee": "handler"}, "assignee"), ({"team": "SERVICE"}, "team")):
        refused = await step(api, ref, "tasks", "drafter", {**good, **change}, expect=422)
        assert field in str(refused["detail"][0]["loc"]) + refused["detail"][0]["msg"], (change, refused)
    unknown = await step(api, ref, "tasks/nope/complete", "drafter", {"result": "r"}, expect=422)
    assert unknown["detail"][0]["loc"][-1] == "task_id"


async def test_reassigning_emails_the_new_assignee_and_closing_the_case_cancels_open_tasks(api, mailbox):
    ref = await allocated_case(api)
    case = await step(api, ref, "tasks", "coordinator", {"title": "Pull the call recording", "team": "CENTRAL",
                                                         "due_date": due(3)})
    task = case["tasks"][0]
    assert len(task_mail(mailbox, "central@example.org", ref)) == 1  # a team's task: the team's address
    moved = await step(api, ref, f"tasks/{task['id']}/reassign", "coordinator",
                       {"team": "CENTRAL", "assignee": "qa", "reason": "Quinn has the recordings"})
    assert moved["tasks"][0]["assignee_name"] == "Quinn Reviewer"
    assert len(task_mail(mailbox, "qa@example.org", ref)) == 1
    assert len(task_mail(mailbox, "central@example.org", ref)) == 1  # the first assignment's, still once
    later = await step(api, ref, f"tasks/{task['id']}/reschedule", "qa",
                       {"due_date": due(4), "due_time": "15:30", "reason": "Archive is slow"})
    assert later["tasks"][0]["due_on"] == due(4) and later["tasks"][0]["due_time"] == "15:30:00"

    closed = await step(api, ref, "close", "coordinator", {"reason": "withdrawn", "note": "Withdrawn by phone"})
    [cancelled] = closed["tasks"]
    assert cancelled["status"] == "cancelled" and "closed" in cancelled["cancel_reason"]
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("coordinator"))).json()
    assert {"task_reassigned", "task_rescheduled", "task_cancelled"} <= {e["kind"] for e in timeline}
    assert await tasks(api, "qa", case=ref) == []


async def test_task_lists_show_only_tasks_of_cases_one_may_see(api):
    ref = await allocated_case(api, team="SERVICE", assignee="handler")
    await step(api, ref, "tasks", "handler", {"title": "Team follow-up", "team": "SERVICE", "due_date": due(5)})
    case = await step(api, ref, "tasks", "handler", {"title": "My follow-up", "assignee": "handler",
                                                     "due_date": due(1)})
    soon = next(t for t in case["tasks"] if t["title"] == "My follow-up")

    mine = await tasks(api, "handler", case=ref)
    assert [t["title"] for t in mine] == ["My follow-up"]
    assert mine[0]["case_reference"] == ref and mine[0]["case_stage"] == "Acknowledge"
    team = await tasks(api, "handler", scope="team", case=ref)
    assert [t["title"] for t in team] == ["Team follow-up"]
    assert await tasks(api, "drafter", scope="team", case=ref) == []  # not a SERVICE member
    assert [t["title"] for t in await tasks(api, "manager", scope="team", case=ref)] == ["Team follow-up"]

    await step(api, ref, f"tasks/{soon['id']}/complete", "handler", {"result": "Done"})
    assert await tasks(api, "handler", case=ref) == []
    assert [t["title"] for t in await tasks(api, "handler", case=ref, status="done")] == ["My follow-up"]

    # Re-allocated away from the handler's team: its tasks leave the handler's lists with it.
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING"})
    assert await tasks(api, "handler", scope="team", case=ref) == []
    assert await tasks(api, "handler", case=ref, status="all") == []
    refused = await api.get("/tasks", params={"scope": "everyone"}, headers=auth("handler"))
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "scope"


async def test_an_assignment_email_is_sent_once_though_the_worker_dies_after_sending_it(
        settings, temporal, engine, mailbox):
    crashed: list[str] = []

    def crash_after_first_task_email(job) -> None:
        if not crashed:
            crashed.append(job.business_key)
            raise RuntimeError("injected: the worker died after the SMTP server took the task email")

    own = settings.model_copy(update={"task_queue": f"tasks-{uuid.uuid4().hex[:8]}"})
    async with own_stack(own, temporal, engine, after_task_email=crash_after_first_task_email) as api:
        ref = await allocated_case(api)
        case = await step(api, ref, "tasks", "drafter", {"title": "Check the refund", "assignee": "drafter2",
                                                         "due_date": due(2)})
        moved = await step(api, ref, f"tasks/{case['tasks'][0]['id']}/reassign", "drafter",
                           {"assignee": "drafter", "team": "CENTRAL"})
        timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()

    assert len(crashed) == 1
    assert len(task_mail(mailbox, "drafter2@example.org", ref)) == 1  # the retry did not send again
    added = next(e for e in timeline if e["kind"] == "task_added")
    assert added["data"]["delivery_confirmed"] is False  # it cannot know the first attempt's fate
    assert moved["tasks"][0]["assignee_name"] == "Dev Drafter"
    assert len(task_mail(mailbox, "drafter@example.org", ref)) == 1


async def test_a_task_email_whose_send_was_cut_short_waits_on_the_case_until_confirmed_or_resent(
        settings, temporal, engine, mailbox):
    _, crash_after_each_first_task_email = crash_after_each_first("the SMTP server took the task email")

    own = settings.model_copy(update={"task_queue": f"tasks-{uuid.uuid4().hex[:8]}"})
    async with own_stack(own, temporal, engine, after_task_email=crash_after_each_first_task_email) as api:
        ref = await allocated_case(api)
        case = await step(api, ref, "tasks", "drafter", {"title": "Check the refund", "assignee": "drafter2",
                                                         "due_date": due(2)})
        [task] = case["tasks"]
        [pending] = case["unconfirmed_deliveries"]
        assert (pending["purpose"], pending["recipient"], pending["task_id"]) == (
            "task_assigned", "drafter2@example.org", task["id"])
        listed = await api.get("/search/cases", params={"unconfirmed_delivery": "true", "reference": ref},
                               headers=auth("drafter"))
        assert [c["reference"] for c in listed.json()["items"]] == [ref]

        resent = await step(api, ref, f"deliveries/{pending['id']}/resend", "drafter", {"reason": "not in the log"})
        [again] = resent["unconfirmed_deliveries"]  # the resend was cut short too: a new email to settle
        assert again["id"] != pending["id"] and again["message_id"] != pending["message_id"]
        assert len(task_mail(mailbox, "drafter2@example.org", ref)) == 2
        confirmed = await step(api, ref, f"deliveries/{again['id']}/confirm", "drafter",
                               {"note": "drafter2 has it"})
        assert confirmed["unconfirmed_deliveries"] == []

        # Reassigned, then cancelled: whether an earlier email arrived no longer matters.
        moved = await step(api, ref, f"tasks/{task['id']}/reassign", "drafter", {"assignee": "drafter",
                                                                                  "team": "CENTRAL"})
        [for_new] = moved["unconfirmed_deliveries"]
        assert for_new["recipient"] == "drafter@example.org"
        cancelled = await step(api, ref, f"tasks/{task['id']}/cancel", "drafter", {"reason": "done by phone"})
        assert cancelled["unconfirmed_deliveries"] == []
        timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()

    resend_event = next(e for e in timeline if e["kind"] == "delivery_resent")
    assert resend_event["data"]["task_id"] == task["id"] and resend_event["data"]["delivery_confirmed"] is False
    assert len(task_mail(mailbox, "drafter@example.org", ref)) == 1


async def test_an_unconfirmed_email_opens_a_task_for_the_case_owner_which_resending_or_confirming_completes(
        settings, temporal, engine, mailbox):
    _, crash_after_each_first_send = crash_after_each_first("the SMTP server took the message")

    own = settings.model_copy(update={"task_queue": f"tasks-{uuid.uuid4().hex[:8]}"})
    async with own_stack(own, temporal, engine, after_smtp_send=crash_after_each_first_send) as api:
        ref = await allocated_case(api)
        acknowledged = await step(api, ref, "acknowledge", "drafter", {"channel": "email"})
        [pending] = acknowledged["unconfirmed_deliveries"]
        [task] = acknowledged["tasks"]
        assert task["title"].startswith("Confirm or resend the acknowledgement email to ")
        assert (task["team"], task["assignee_name"], task["source"]) == ("CENTRAL", "Dev Drafter",
                                                                          f"delivery:{pending['id']}")
        assert [t["id"] for t in await tasks(api, "drafter", case=ref)] == [task["id"]]
        assert len(task_mail(mailbox, "drafter@example.org", ref)) == 1

        resent = await step(api, ref, f"deliveries/{pending['id']}/resend", "drafter",
                            {"reason": "nothing arrived"})
        first, second = resent["tasks"]  # the resend was interrupted too: a task for the new email
        assert first["status"] == "done" and first["result"].startswith("Sent again")
        assert second["status"] == "open" and second["source"] == f"delivery:{resent['unconfirmed_deliveries'][0]['id']}"
        confirmed = await step(api, ref, f"deliveries/{resent['unconfirmed_deliveries'][0]['id']}/confirm",
                               "drafter", {"note": "the complainant confirmed by phone"})
        assert [t["status"] for t in confirmed["tasks"]] == ["done", "done"]
        assert await tasks(api, "drafter", case=ref) == []


async def test_an_open_task_is_flagged_overdue_by_the_cases_timer_and_listed_first(clock: Clock):  # noqa: F811
    received = min(await clock.today(), date.today())
    ref = await open_case(clock, received)
    api = clock.api
    for title, days in (("Later", 10), ("Soonest", 3), ("Middle", 5)):
        await step(api, ref, "tasks", "drafter", {"title": title, "assignee": "drafter", "due_date": due(days)})
    case = await clock.case(ref)
    soonest = next(t for t in case["tasks"] if t["title"] == "Soonest")
    due_at = breach_instant(date.fromisoformat(soonest["due_on"]), Region.ENGLAND_AND_WALES)
    assert datetime.fromisoformat(soonest["due_at"]) == due_at  # the end of the due day, UK time

    await clock.skip_to(due_at)
    overdue = await clock.event(ref, "task_overdue")
    assert datetime.fromisoformat(overdue["occurred_at"]) == due_at and overdue["data"]["task_id"] == soonest["id"]
    case = await clock.case_when(ref, lambda c: any(t["overdue"] for t in c["tasks"]), "a task overdue")
    assert [t["title"] for t in case["tasks"] if t["overdue"]] == ["Soonest"]
    assert [t["title"] for t in await tasks(api, "drafter", case=ref)] == ["Soonest", "Middle", "Later"]
    assert [t["title"] for t in await tasks(api, "drafter", case=ref, overdue="true")] == ["Soonest"]

    # Moved to a later date: due again, no longer overdue, and the timer waits for it anew.
    later = await step(api, ref, f"tasks/{soonest['id']}/reschedule", "drafter",
                       {"due_date": due(20), "reason": "Waiting on the bank"})
    assert not next(t for t in later["tasks"] if t["id"] == soonest["id"])["overdue"]
    assert [t["title"] for t in await tasks(api, "drafter", case=ref)] == ["Middle", "Later", "Soonest"]
    by_title = {t["title"]: t["id"] for t in later["tasks"]}
    await step(api, ref, f"tasks/{by_title['Middle']}/complete", "drafter", {"result": "Done"})
    await step(api, ref, f"tasks/{by_title['Later']}/reassign", "drafter", {"team": "CENTRAL"})
    await step(api, ref, f"tasks/{by_title['Later']}/cancel", "coordinator", {"reason": "Not needed"})
    assert [t["title"] for t in await tasks(api, "drafter", case=ref)] == ["Soonest"]
    await record_history(clock, ref, "tasks-overdue")

