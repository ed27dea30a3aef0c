"""Frontline complaint handling (F4), one router made of its concepts: intake and repeat matching
(`intake`), the steps on a case (`steps`), the register and its exports (`register`), statistics
(`statistics`), and service improvements with their fortnightly review (`improvements`)."""

from __future__ import annotations

from fastapi import APIRouter

from . import improvements, intake, register, statistics, steps

router = APIRouter()
for part in (intake, steps, register, statistics, improvements):
    router.include_router(part.router)
