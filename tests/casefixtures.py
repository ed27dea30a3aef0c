"""Helpers that read like the steps a user takes through the HTTP API."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
from docx import Document

from casework.calendar.deadlines import case_today
from devtools import demo

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def auth(username: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.demo_token(username)}", **headers}


def case_path(reference: str) -> str:
    return f"/cases/{reference}"


def complaint(**overrides) -> dict:
    tag = uuid.uuid4().hex[:8]
    body = {
        "case_type": "COMP",
        "channel": "email",
        "category": "Billing",
        "severity": "medium",
        "description": "I was charged twice for my March bill.",
        "date_received": (date.today() - timedelta(days=1)).isoformat(),
        "correspondents": [
            {
                "name": f"Jane Citizen {tag}",
                "email": f"jane.{tag}@example.net",
                "phone": "020 7946 0000",
                "address_lines": ["1 High Street", "Anytown"],
                "postcode": "ab12cd",  # stored as "AB1 2CD"
            },
            {"name": "Sam Advocate", "relationship": "representative", "email": f"sam.{tag}@example.net"},
        ],
    }
    body.update(overrides)
    return body


async def register(api: httpx.AsyncClient, user: str = "handler", **overrides) -> dict:
    response = await api.post("/cases", json=complaint(**overrides), headers=auth(user))
    assert response.status_code == 201, response.text
    return response.json()


async def step(api: httpx.AsyncClient, reference: str, action: str, user: str, body: dict | None = None,
               expect: int = 200, **headers: str) -> dict:
    response = await api.post(f"{case_path(reference)}/{action}", json=body or {},
                              headers=auth(user, **headers))
    assert response.status_code == expect, f"{action}: {response.status_code} {response.text}"
    return response.json()


def docx_bytes(*paragraphs: str) -> bytes:
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def upload_draft(api: httpx.AsyncClient, reference: str, user: str = "drafter",
                       text: str = "Dear complainant, we have investigated.") -> dict:
    files = {"file": ("response.docx", docx_bytes(text),
                      "application/vnd.openxmlformats-officedocument.wordprocessingml.document")}
    response = await api.post(f"{case_path(reference)}/documents", files=files, data={"kind": "draft"},
                              headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


async def walk_to_draft(api: httpx.AsyncClient, **overrides) -> dict:
    case = await register(api, **overrides)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await step(api, ref, "acknowledge", "drafter", {"channel": "email"})
    return case


async def walk_to_qa(api: httpx.AsyncClient, **overrides) -> dict:
    case = await walk_to_draft(api, **overrides)
    await upload_draft(api, case["reference"])
    return await step(api, case["reference"], "submit-draft", "drafter")


async def workflow_ids_matching(client, query: str) -> list[str]:
    # Visibility is eventually consistent; give it a moment after a restart.
    for _ in range(50):
        ids = [execution.id async for execution in client.list_workflows(query)]
        if ids:
            return ids
        await asyncio.sleep(0.1)
    return []


def uk_today() -> date:
    """Today as the API and the workflow see it: the UK date, whatever the machine's zone."""
    return case_today(datetime.now(timezone.utc))


HISTORIES = Path(__file__).parent / "histories"  # replayed by tests/test_replay.py


async def keep_history(client, reference: str, name: str) -> None:
    """With RECORD_HISTORIES set, keep the case's history for tests/test_replay.py to replay
    forever: as `name` (RECORD_HISTORIES=1) or `<label>-<name>` (RECORD_HISTORIES=<label>, a new
    set named after the change it records). An existing file is kept: it guards the paths the
    code that recorded it took."""
    label = os.environ.get("RECORD_HISTORIES")
    path = HISTORIES / f"{name if label == '1' else f'{label}-{name}'}.json"
    if label and not path.exists():
        path.write_text((await client.get_workflow_handle(reference).fetch_history()).to_json())
