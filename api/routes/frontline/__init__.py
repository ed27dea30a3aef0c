"""Frontline complaint handling (F4), one router made of its concepts: intake and repeat matching
(`intake`), the steps on a case (`steps`), the register and its exports (`register`), statistics
(`statistics`), service improvements with their fortnightly review (`improvements`), and the
call script as an administrator-edited template (`scripts`)."""

from __future__ import annotations

from fastapi import APIRouter

from . import improvements, intake, register, scripts, statistics, steps

router = APIRouter()
for part in (intake, steps, register, statistics, improvements, scripts):
    router.include_router(part.router)
