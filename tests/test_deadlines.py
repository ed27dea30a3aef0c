"""Deadline policies and schedules: pure functions, dates counted by hand.

Every expected date was counted on a calendar (weekday checked, bank holidays from the published UK
lists), never by calling the code under test. In the comments "day N" is the Nth working day after
the (rolled) date of receipt.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from pydantic import ValidationError

from casework.calendar.deadlines import (
    ExtensionPlan,
    ExtensionRefusal,
    Pause,
    breach_instant,
    compute_schedule,
    local_date,
    plan_extension,
    start_of_day,
)
from casework.calendar.policies import (
    CFPB,
    DEFAULT_POLICY,
    FCA_DISP,
    PAYMENT_SERVICES,
    PRESETS,
    UK_PUBLIC_SECTOR,
    DayUnit,
    DeadlinePolicy,
    ExtensionAnchor,
    policy_from_data,
    policy_from_preset,
)
from casework.kinds.complaint.rules import StageKind
from casework.calendar.workdays import Region, bank_holiday_names, build_calendar

ENG, SCT = Region.ENGLAND_AND_WALES, Region.SCOTLAND
YEARS = range(2019, 2027)
TODAY, DEADLINE = ExtensionAnchor.TODAY, ExtensionAnchor.DEADLINE


def d(iso: str) -> date:
    return date.fromisoformat(iso)


def cal(region: Region = ENG, *closures: str):
    return build_calendar(region, YEARS, [d(c) for c in closures])


def schedule(policy: DeadlinePolicy, received: str, pauses=(), extensions=(), region=ENG, closures=()):
    return compute_schedule(policy, d(received), list(pauses), list(extensions), cal(region, *closures))


# ---- presets ----------------------------------------------------------------------------------


def test_presets_are_the_published_rules():
    assert (UK_PUBLIC_SECTOR.unit, UK_PUBLIC_SECTOR.response_days) == (DayUnit.WORKING, 20)
    assert (FCA_DISP.unit, FCA_DISP.response_days, FCA_DISP.holding_response_at_deadline) == (
        DayUnit.CALENDAR, 56, True)
    assert (PAYMENT_SERVICES.unit, PAYMENT_SERVICES.response_days, PAYMENT_SERVICES.extension_cap_days) == (
        DayUnit.WORKING, 15, 35)
    assert (CFPB.unit, CFPB.response_days, CFPB.extension_cap_days) == (DayUnit.CALENDAR, 15, 60)
    # Regulatory clocks do not stop for clarification; the UK public-sector one does.
    assert [p.pause_on_clarification for p in (UK_PUBLIC_SECTOR, FCA_DISP, PAYMENT_SERVICES, CFPB)] == [
        True, False, False, False]
    assert set(PRESETS) == {"uk-public-sector", "fca-disp", "payment-services", "cfpb"}
    assert policy_from_data(None) is DEFAULT_POLICY is UK_PUBLIC_SECTOR


def test_a_stored_policy_round_trips_through_json():
    for policy in PRESETS.values():
        assert policy_from_data(policy.model_dump(mode="json")) == policy


@pytest.mark.parametrize(("overrides", "field"), [
    ({"warning_days": 20}, "warning_days"),
    ({"acknowledgement_days": 25}, "acknowledgement_days"),
    ({"stage_days": {"draft": 21}}, "stage_days"),
    ({"stage_days": {"drafting": 5}}, "stage_days"),
    ({"response_days": 0}, "response_days"),
    ({"extension_cap_days": 20}, "extension_cap_days"),
    ({"max_extensions": 0, "extension_cap_days": 40}, "extension_cap_days"),
    ({"unit": "fortnights"}, "unit"),
    ({"region": "wales"}, "region"),
    ({"colour": "red"}, "colour"),
])
def test_an_inconsistent_policy_is_refused_naming_the_field(overrides, field):
    with pytest.raises(ValidationError) as raised:
        policy_from_preset("uk-public-sector", **overrides)
    assert raised.value.errors()[0]["loc"][0] == field


# ---- schedules --------------------------------------------------------------------------------


def test_uk_public_sector_over_the_august_bank_holiday():
    s = schedule(UK_PUBLIC_SECTOR, "2020-08-17")  # Monday; Mon 31 Aug is a bank holiday
    assert s.deadline == d("2020-09-15")  # day 20
    assert s.warning_on == d("2020-09-08")  # day 15: five working days before
    assert s.acknowledgement_due == d("2020-08-20")  # day 3
    assert s.stage_deadlines == {StageKind.TRIAGE: d("2020-08-19"), StageKind.DRAFT: d("2020-09-08"),
                                 StageKind.QA: d("2020-09-11"), StageKind.SEND: d("2020-09-15")}


def test_uk_public_sector_received_on_a_saturday_counts_from_monday():
    s = schedule(UK_PUBLIC_SECTOR, "2020-01-04")
    assert (s.deadline, s.warning_on, s.acknowledgement_due) == (d("2020-02-03"), d("2020-01-27"), d("2020-01-09"))


def test_explanation_names_the_days_not_counted():
    names = bank_holiday_names(ENG, YEARS)
    s = compute_schedule(UK_PUBLIC_SECTOR, d("2020-08-17"), [], [], cal(), names)
    assert s.explanation == (
        "Due Tue 15 Sep 2020: received Mon 17 Aug 2020, 20 working days (UK public sector); "
        "not counted (england-and-wales): Mon 31 Aug 2020 (Late Summer Bank Holiday)")


def test_a_finished_pause_moves_every_shifted_date_by_the_paused_working_days():
    # Stopped Wed 26 Aug, restarted Wed 2 Sep: Thu 27, Fri 28, (Mon 31 holiday), Tue 1, Wed 2 = 4 days.
    s = schedule(UK_PUBLIC_SECTOR, "2020-08-17", [Pause(d("2020-08-26"), d("2020-09-02"))])
    assert s.paused_days == (4,)
    assert s.deadline == d("2020-09-21")  # day 24
    assert s.warning_on == d("2020-09-14")  # day 19
    assert s.stage_deadlines[StageKind.DRAFT] == d("2020-09-14")
    assert s.acknowledgement_due == d("2020-08-20")  # receipt-based: never shifted
    assert "+4 working days while the clock was stopped" in s.explanation


def test_an_open_pause_moves_nothing_yet():
    s = schedule(UK_PUBLIC_SECTOR, "2020-08-17", [Pause(d("2020-08-26"))])
    assert (s.paused_days, s.deadline) == ((0,), d("2020-09-15"))


def test_a_pause_ending_the_day_it_began_costs_nothing_and_weekends_do_not_count():
    assert schedule(UK_PUBLIC_SECTOR, "2020-08-17", [Pause(d("2020-08-26"), d("2020-08-26"))]).paused_days == (0,)
    # Fri 21 to Mon 24 Aug: only the Monday.
    assert schedule(UK_PUBLIC_SECTOR, "2020-08-17", [Pause(d("2020-08-21"), d("2020-08-24"))]).paused_days == (1,)


def test_pauses_do_not_count_under_a_policy_whose_clock_never_stops():
    s = schedule(PAYMENT_SERVICES, "2020-08-17", [Pause(d("2020-08-26"), d("2020-09-02"))])
    assert (s.paused_days, s.deadline) == ((0,), d("2020-09-08"))  # day 15


def test_extension_days_shift_the_deadline_and_stage_deadlines_follow():
    s = schedule(UK_PUBLIC_SECTOR, "2020-08-17", extensions=[5])
    assert s.deadline == d("2020-09-22")  # day 25
    assert s.stage_deadlines[StageKind.SEND] == d("2020-09-22")
    assert s.stage_deadlines[StageKind.DRAFT] == d("2020-09-15")  # day 20


def test_a_closure_date_moves_the_deadline_by_one_working_day():
    assert schedule(UK_PUBLIC_SECTOR, "2020-08-17", closures=["2020-09-04"]).deadline == d("2020-09-16")
    # A closure after the deadline changes nothing.
    assert schedule(UK_PUBLIC_SECTOR, "2020-08-17", closures=["2020-09-16"]).deadline == d("2020-09-15")


def test_scottish_and_english_cases_differ_over_the_first_monday_of_august():
    ten_days = policy_from_preset("uk-public-sector", response_days=10, warning_days=2, stage_days={})
    assert schedule(ten_days, "2024-07-26", region=ENG).deadline == d("2024-08-09")
    assert schedule(ten_days, "2024-07-26", region=SCT).deadline == d("2024-08-12")  # Mon 5 Aug closed


def test_fca_eight_weeks_are_calendar_days_from_receipt():
    s = schedule(FCA_DISP, "2020-08-17")
    assert (s.deadline, s.warning_on) == (d("2020-10-12"), d("2020-09-28"))
    assert s.acknowledgement_due == d("2020-08-24")  # 5 working days
    # No rolling forward, for receipt or deadline: received Sat 4 Jan 2020, due Sat 29 Feb (a leap day).
    assert schedule(FCA_DISP, "2020-01-04").deadline == d("2020-02-29")


def test_cfpb_fifteen_calendar_days():
    s = schedule(CFPB, "2020-08-17")
    assert (s.deadline, s.warning_on, s.acknowledgement_due) == (d("2020-09-01"), d("2020-08-29"), None)


# ---- extensions -------------------------------------------------------------------------------


def extend(policy, received, anchor, n, today="2020-09-14", extensions=(), pauses=()):
    return plan_extension(policy, d(received), list(pauses), list(extensions), anchor, n, d(today), cal())


def test_extend_from_the_deadline():
    plan = extend(UK_PUBLIC_SECTOR, "2020-08-17", DEADLINE, 5)
    assert isinstance(plan, ExtensionPlan)
    assert (plan.days_added, plan.target, plan.schedule.deadline) == (5, d("2020-09-22"), d("2020-09-22"))
    assert plan.schedule.warning_on == d("2020-09-15")  # day 20: the warning moves too


def test_extend_from_today():
    # Today Mon 14 Sep + 10 working days = Mon 28 Sep: 9 working days after the deadline of Tue 15 Sep.
    plan = extend(UK_PUBLIC_SECTOR, "2020-08-17", TODAY, 10)
    assert isinstance(plan, ExtensionPlan)
    assert (plan.days_added, plan.schedule.deadline) == (9, d("2020-09-28"))


def test_an_extension_never_brings_the_deadline_forward():
    refused = extend(UK_PUBLIC_SECTOR, "2020-08-17", TODAY, 1)  # Tue 15 Sep: the deadline itself
    assert isinstance(refused, ExtensionRefusal) and refused.field == "working_days"
    assert "not later than the current deadline Tue 15 Sep 2020" in refused.message
    assert isinstance(extend(UK_PUBLIC_SECTOR, "2020-08-17", TODAY, 0), ExtensionRefusal)


def test_payment_services_extension_is_capped_at_35_business_days():
    plan = extend(PAYMENT_SERVICES, "2020-08-17", DEADLINE, 20, today="2020-09-01")  # day 35
    assert isinstance(plan, ExtensionPlan) and plan.schedule.deadline == d("2020-10-06")
    refused = extend(PAYMENT_SERVICES, "2020-08-17", DEADLINE, 21, today="2020-09-01")
    assert isinstance(refused, ExtensionRefusal)
    assert "Tue 06 Oct 2020" in refused.message and "35 days from receipt" in refused.message


def test_cfpb_extension_counts_working_days_and_adds_calendar_days_up_to_sixty():
    # Deadline Tue 1 Sep + 30 working days = Tue 13 Oct: 42 calendar days later.
    plan = extend(CFPB, "2020-08-17", DEADLINE, 30, today="2020-08-25")
    assert isinstance(plan, ExtensionPlan) and (plan.days_added, plan.schedule.deadline) == (42, d("2020-10-13"))
    assert isinstance(extend(CFPB, "2020-08-17", DEADLINE, 33, today="2020-08-25"), ExtensionPlan)  # Fri 16 Oct
    assert isinstance(extend(CFPB, "2020-08-17", DEADLINE, 34, today="2020-08-25"), ExtensionRefusal)


def test_the_cap_moves_with_time_the_clock_was_stopped():
    pauses = [Pause(d("2020-08-26"), d("2020-09-02"))]  # 4 working days
    # Payment services never stop: deadline day 15, cap day 35, so 24 more days (day 39) is too many.
    assert isinstance(extend(PAYMENT_SERVICES, "2020-08-17", DEADLINE, 24, pauses=pauses), ExtensionRefusal)
    # A variant that stops the clock: deadline day 19, cap day 39 (Mon 12 Oct).
    stops = policy_from_preset("payment-services", pause_on_clarification=True)
    plan = extend(stops, "2020-08-17", DEADLINE, 20, pauses=pauses)
    assert isinstance(plan, ExtensionPlan) and plan.schedule.deadline == d("2020-10-12")
    assert isinstance(extend(stops, "2020-08-17", DEADLINE, 21, pauses=pauses), ExtensionRefusal)


# ---- instants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "instant"), [
    ("2020-01-27", "2020-01-27T00:00:00+00:00"),  # GMT
    ("2020-09-08", "2020-09-07T23:00:00+00:00"),  # BST
    ("2024-03-31", "2024-03-31T00:00:00+00:00"),  # clocks go forward at 01:00 that morning
    ("2024-10-27", "2024-10-26T23:00:00+00:00"),  # clocks go back at 02:00 that morning
])
def test_a_local_day_starts_at_midnight_uk_time(day, instant):
    assert start_of_day(d(day), ENG) == datetime.fromisoformat(instant)


def test_the_whole_deadline_day_is_allowed():
    assert breach_instant(d("2020-09-15"), ENG) == datetime(2020, 9, 15, 23, 0, tzinfo=timezone.utc)
    assert local_date(datetime(2020, 9, 15, 22, 59, tzinfo=timezone.utc), ENG) == d("2020-09-15")
    assert local_date(datetime(2020, 9, 15, 23, 0, tzinfo=timezone.utc), ENG) == d("2020-09-16")


def test_cached_cases_share_one_copy_of_an_equal_policy():
    """Every clock a worker holds keeps its policy; equal policies are one object (memory per
    cached case), a different one is its own, and the default stands in for none."""
    from workflows.engine.shared import shared_policy

    stored = UK_PUBLIC_SECTOR.model_dump(mode="json")
    first, again = shared_policy(stored), shared_policy(dict(reversed(list(stored.items()))))
    assert first is again and first == UK_PUBLIC_SECTOR
    other = shared_policy({**stored, "max_extensions": stored["max_extensions"] + 1})
    assert other is not first and other.max_extensions == first.max_extensions + 1
    assert shared_policy(None) == policy_from_data(None)
