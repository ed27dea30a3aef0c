"""Temporal client wiring shared by the worker, the API and the tests."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from casework.config import Settings


async def connect(settings: Settings) -> Client:
    if not settings.temporal_address:
        raise RuntimeError("TEMPORAL_ADDRESS is not set (make run starts a dev server and sets it)")
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
