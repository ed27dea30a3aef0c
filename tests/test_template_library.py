"""The template library through the admin API: shipped defaults, uploads checked against the
placeholder reference, versions kept, case-type overrides used by real letters and emails, previews."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from activities.correspondence import template_context
from casework.documents import template_library
from casework.platform.config import PROJECT_ROOT
from casework.kinds.complaint.contracts import CaseState
from casework.cases.contracts import Channel
from casework.cases.jobs import CorrespondenceJob
from casework.platform.db import CaseType, TemplateVersion
from devtools.demo import CLOSE_REASONS, OUTCOMES
from casework.documents.pdf import pdf_text
from casework.documents.rendering import docx_text
from casework.kinds.complaint.rules import STANDARD_COMPLAINT_PLAN
from tests.casefixtures import DOCX, auth, case_path, docx_bytes, register, step

TEMPLATES = PROJECT_ROOT / "templates"
ALL = [(purpose, channel) for purpose, spec in template_library.PURPOSES.items() for channel in spec.channels]


@pytest.mark.parametrize(("purpose", "channel"), ALL, ids=[f"{p}-{c.value}" for p, c in ALL])
def test_every_purpose_ships_a_default_that_passes_the_upload_checks(purpose: str, channel: Channel):
    shipped = template_library.shipped(TEMPLATES, purpose, channel)
    if channel is Channel.LETTER:
        template_library.check_letter(shipped.letter, purpose, name=shipped.name)
    else:
        template_library.check_email(shipped.email, purpose, name=shipped.name)


def test_the_docs_document_every_placeholder():
    docs = (PROJECT_ROOT / "docs" / "letters-and-templates.md").read_text()
    for purpose in template_library.PURPOSES:
        assert f"`{purpose}`" in docs, purpose
        for name in template_library.placeholder_names(purpose):
            assert f"`{name}`" in docs, f"{purpose}: {name}"


def shape(context: dict, prefix: str = "") -> set[str]:
    names = set()
    for key, value in context.items():
        if isinstance(value, dict):
            names |= shape(value, f"{prefix}{key}.")
        else:
            names.add(prefix + key)
    return names


async def test_the_contexts_letters_are_made_with_are_exactly_the_documented_ones(
    api, sessionmaker, temporal,
):
    case = await register(api)
    today = date.today()
    async with sessionmaker() as session:  # previews and generated drafts: from PostgreSQL
        from_projection = await template_library.context_for_case(
            session, case["reference"], sender_name="Dev Drafter", today=today)
    assert shape(from_projection) == shape(template_library.sample_context("acknowledgement"))

    # Letters and emails: from the workflow's state, with the extras its steps pass.
    state = await temporal.get_workflow_handle(case["reference"]).query(
        "current_state", result_type=CaseState)
    for purpose, extra in (
        ("acknowledgement", {}),
        ("clarification", {"clarification": {"questions": "Which?", "reply_by": today}}),
        ("response", {"response": {"summary": ""}}),
    ):
        job = CorrespondenceJob(business_key="k", purpose=purpose, channel=Channel.EMAIL,
                                state=state, sender_name="Dev Drafter", extra=extra)
        documented = shape(template_library.sample_context(purpose))
        assert shape(template_context(job, "Central Complaints Hub", today)) == documented, purpose


@pytest.fixture
async def case_type(sessionmaker) -> str:
    """A case type of this test's own, so its template overrides touch no other test."""
    code = f"T{uuid.uuid4().hex[:6].upper()}"
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(CaseType).values(
            code=code, name="Template test complaint", reference_prefix=code,
            stages=STANDARD_COMPLAINT_PLAN.to_data(), outcome_options=OUTCOMES,
            close_reasons=CLOSE_REASONS, escalation_type=None, active=True))
    return code


async def upload_letter(api, purpose: str, content: bytes, case_type: str | None = None,
                        user: str = "admin", filename: str = "mine.docx"):
    data = {"case_type": case_type} if case_type else {}
    return await api.post(f"/admin/templates/{purpose}/letter", data=data, headers=auth(user),
                          files={"file": (filename, content, DOCX)})


async def upload_email(api, purpose: str, case_type: str | None = None, **parts):
    body = {"subject": "Subject {{ case.reference }}", "text": "Dear {{ complainant.name }}",
            "html": "<p>Dear {{ complainant.name }}</p>", **parts}
    if case_type:
        body["case_type"] = case_type
    return await api.post(f"/admin/templates/{purpose}/email", json=body, headers=auth("admin"))


# ---- refusals ---------------------------------------------------------------------------------


async def test_letter_with_an_unknown_placeholder_is_refused_naming_paragraph_and_name(api):
    content = docx_bytes("Dear {{ complainant.name }}", "Thank you.",
                         "{% if case.category %}Your reference is {{ case.referenc }}{% endif %}")

    response = await upload_letter(api, "acknowledgement", content)

    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "file"] and detail["type"] == "template_error"
    assert (detail["template"], detail["paragraph"], detail["placeholder"]) == (
        "mine.docx", 3, "case.referenc")
    assert "paragraph 3" in detail["msg"] and "case.referenc" in detail["msg"]


async def test_letter_with_a_syntax_error_or_a_placeholder_of_another_purpose_is_refused(api):
    response = await upload_letter(api, "acknowledgement", docx_bytes("Hello", "{% if case.reference %}open"))
    assert response.status_code == 422 and response.json()["detail"][0]["paragraph"] == 2
    # Questions belong to clarification requests, not to acknowledgements.
    response = await upload_letter(api, "acknowledgement",
                                   docx_bytes("Please reply by {{ clarification.reply_by|longdate }}"))
    assert response.status_code == 422 and response.json()["detail"][0]["placeholder"] == "clarification"
    response = await upload_letter(api, "acknowledgement", b"not a docx")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "file"]


async def test_email_errors_name_the_part_and_line(api):
    response = await upload_email(api, "acknowledgement",
                                  html="<p>Hi</p>\n<p>{{ complainant.name }}</p>\n\n<p>{{ team.nmae }}</p>")
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "html"]
    assert (detail["line"], detail["placeholder"]) == (4, "team.nmae")

    response = await upload_email(api, "acknowledgement", subject="Ref {{ case.reference }")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "subject"]


async def test_templates_cannot_reach_python_internals(api):
    for source in ("{{ ''.__class__.__mro__ }}", "{{ case.__class__ }}", "{% include 'x' %}"):
        response = await upload_email(api, "acknowledgement", text=source)
        assert response.status_code == 422, source
        assert response.json()["detail"][0]["loc"] == ["body", "text"]


async def test_only_admins_manage_templates_and_paths_are_checked(api):
    response = await upload_letter(api, "acknowledgement", docx_bytes("Hi"), user="drafter")
    assert response.status_code == 403
    assert (await api.get("/admin/templates", headers=auth("drafter"))).status_code == 403
    response = await upload_letter(api, "nonsense", docx_bytes("Hi"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "purpose"]
    response = await upload_letter(api, "digest", docx_bytes("Hi"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "channel"]
    response = await upload_letter(api, "acknowledgement", docx_bytes("Hi"), case_type="NOPE")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "case_type"]


# ---- versions and which one is used -----------------------------------------------------------


async def test_versions_are_kept_and_a_case_type_override_beats_global_beats_shipped(api, case_type,
                                                                                   sessionmaker):
    def in_use(listing, purpose="holding_response", channel="email"):
        spec = next(item for item in listing if item["purpose"] == purpose)
        return next(c for c in spec["channels"] if c["channel"] == channel)["in_use"]

    async def listing(case_type=None):
        params = {"case_type": case_type} if case_type else {}
        response = await api.get("/admin/templates", params=params, headers=auth("admin"))
        assert response.status_code == 200
        return response.json()

    before = in_use(await listing(case_type))
    assert before["source"] in ("shipped", "library")  # other runs may have uploaded global ones
    global_version = (await upload_email(api, "holding_response", text="Global {{ holding.reason }}")).json()
    try:
        override_1 = (await upload_email(api, "holding_response", case_type=case_type, text="Mine v1")).json()
        override_2 = (await upload_email(api, "holding_response", case_type=case_type, text="Mine v2")).json()

        assert (override_1["version"], override_2["version"]) == (1, 2)
        assert override_2["uploaded_by"] == "Ada Admin" and override_2["uploaded_at"]
        assert in_use(await listing(case_type))["version_id"] == override_2["id"]
        assert in_use(await listing())["version_id"] == global_version["id"]
        assert in_use(await listing(), "acknowledgement", "letter")["source"] == "shipped"

        versions = (await api.get("/admin/templates/holding_response/email/versions",
                                  params={"case_type": case_type}, headers=auth("admin"))).json()
        assert [v["version"] for v in versions] == [2, 1]
        first = (await api.get(f"/admin/templates/versions/{override_1['id']}", headers=auth("admin"))).json()
        assert first["text"] == "Mine v1" and first["case_type"] == case_type
    finally:
        # A global version applies to every case type: later tests expect the shipped holding email.
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(TemplateVersion).where(TemplateVersion.id == global_version["id"]))


async def test_case_type_overrides_are_what_letters_and_emails_are_made_from(api, case_type, mailbox):
    letter = docx_bytes("Dear {{ complainant.name }}",
                        "Custom acknowledgement of {{ case.reference }} for {{ case.type_name }}.")
    uploaded = await upload_letter(api, "acknowledgement", letter, case_type=case_type)
    assert uploaded.status_code == 201, uploaded.text
    letter_version = uploaded.json()
    email_version = (await upload_email(
        api, "acknowledgement", case_type=case_type, subject="Got it: {{ case.reference }}",
        text="Plain: {{ case.description }}", html="<p>HTML: {{ case.description }}</p>")).json()
    download = await api.get(letter_version["download_url"], headers=auth("admin"))
    assert download.content == letter

    by_post = await register(api, case_type=case_type)
    by_email = await register(api, case_type=case_type, description="Fish & <chips>")
    for case, channel in ((by_post, "letter"), (by_email, "email")):
        await step(api, case["reference"], "allocate", "coordinator", {"team": "CENTRAL"})
        await step(api, case["reference"], "acknowledge", "drafter", {"channel": channel})

    ref = by_post["reference"]
    event = next(e for e in (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
                 if e["kind"] == "acknowledged")
    assert event["data"]["template"] == {
        "purpose": "acknowledgement", "channel": "letter", "source": "library",
        "version_id": letter_version["id"], "version": 1, "case_type": case_type}
    assert "post room" in event["summary"]
    files = {d["content_type"]: d for d in event["data"]["documents"]}
    docx_file = await api.get(f"/documents/{files[DOCX]['id']}", headers=auth("drafter"))
    pdf_file = await api.get(f"/documents/{files['application/pdf']['id']}", headers=auth("drafter"))
    expected = f"Custom acknowledgement of {ref} for Template test complaint."
    assert expected in docx_text(docx_file.content)
    assert expected in " ".join(pdf_text(pdf_file.content).split())

    (message,) = mailbox.to(by_email["correspondents"][0]["email"])
    assert message["Subject"] == f"Got it: {by_email['reference']}"
    assert message.get_body(("plain",)).get_content().strip() == "Plain: Fish & <chips>"
    assert "HTML: Fish &amp; &lt;chips&gt;" in message.get_body(("html",)).get_content()
    event = next(e for e in (await api.get(f"{case_path(by_email['reference'])}/timeline",
                                           headers=auth("drafter"))).json() if e["kind"] == "acknowledged")
    assert event["data"]["template"]["version_id"] == email_version["id"]


async def test_shipped_defaults_can_be_downloaded_as_a_starting_point(api):
    letter = await api.get("/admin/templates/response/letter/shipped", headers=auth("admin"))
    assert letter.status_code == 200 and "{{ case.reference }}" in docx_text(letter.content)
    email = (await api.get("/admin/templates/digest/email/shipped", headers=auth("admin"))).json()
    assert set(email) == {"subject", "text", "html"} and "{{ team.name }}" in email["subject"]


# ---- preview ----------------------------------------------------------------------------------


async def test_preview_renders_a_template_against_a_case(api, case_type):
    case = await register(api)
    ref, name = case["reference"], case["correspondents"][0]["name"]

    as_docx = await api.post("/admin/templates/acknowledgement/letter/preview",
                             json={"case_reference": ref}, headers=auth("admin"))
    assert as_docx.status_code == 200 and as_docx.headers["content-type"] == DOCX
    assert f"Dear {name}" in docx_text(as_docx.content) and ref in docx_text(as_docx.content)
    as_pdf = await api.post("/admin/templates/clarification/letter/preview",
                            json={"case_reference": ref, "format": "pdf"}, headers=auth("admin"))
    text = " ".join(pdf_text(as_pdf.content).split())
    assert name in text and "Which account was charged?" in text  # sample questions
    email = (await api.post("/admin/templates/acknowledgement/email/preview",
                            json={"case_reference": ref}, headers=auth("admin"))).json()
    assert ref in email["subject"] and name in email["text"] and "shipped default" in email["template"]
    digest = (await api.post("/admin/templates/digest/email/preview", json={},
                             headers=auth("admin"))).json()
    assert "Central Complaints Hub" in digest["subject"]

    version = (await upload_email(api, "contribution", case_type=case_type,
                                  subject="Help with {{ case.reference }}")).json()
    preview = (await api.post("/admin/templates/contribution/email/preview",
                              json={"case_reference": ref, "version_id": version["id"]},
                              headers=auth("admin"))).json()
    assert preview["subject"] == f"Help with {ref}"
    wrong = await api.post("/admin/templates/acknowledgement/email/preview",
                           json={"case_reference": ref, "version_id": version["id"]}, headers=auth("admin"))
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"][-1] == "version_id"
    missing = await api.post("/admin/templates/acknowledgement/email/preview",
                             json={"case_reference": "COMP/999999/99"}, headers=auth("admin"))
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"][-1] == "case_reference"
