"""Letters, emails and SMTP delivery, checked the way a complainant would receive them.

Letters are opened again with python-docx (what Word would show), emails are parsed from the bytes a
real SMTP server received. Nothing is mocked: the SMTP servers are aiosmtpd on 127.0.0.1.
"""

from __future__ import annotations

import email
import runpy
import smtplib
import socket
import zipfile
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default as default_policy
from io import BytesIO
from pathlib import Path
from typing import Any, Iterator

import docx
import pytest
from aiosmtpd.controller import Controller
from docx.oxml.ns import qn

from casework.platform.config import PROJECT_ROOT, Settings
from casework.platform.mail import (
    Attachment,
    build_message,
    is_permanent_failure,
    run_sink,
    send_message,
    wire_bytes,
)
from casework.documents.rendering import (
    TemplateError,
    docx_text,
    longdate,
    money,
    render_email,
    render_email_parts,
    render_letter,
)
from casework.documents.template_library import CASE_FIELDS, check_source

TEMPLATES = PROJECT_ROOT / "templates"
LETTERS = TEMPLATES / "letters"
PURPOSES = ("acknowledgement", "clarification", "response")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def sample_context(**case_changes: Any) -> dict[str, Any]:
    return {
        "case": {
            "reference": "CMP-2020-00042",
            "type_name": "Service complaint",
            "date_received": date(2020, 8, 17),
            "category": "Delays",
            "description": "You lost my renewal form.\nThen you lost it again.",
            "channel": "email",
            **case_changes,
        },
        "complainant": {
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "phone": "020 7946 0018",
            "address_lines": ["12 St James's Square", "London"],
            "postcode": "SW1Y 4JH",
        },
        "team": {"name": "Customer Relations"},
        "sender": {"name": "Sam Okafor"},
        "letter_date": date(2020, 8, 20),
        "clarification": {
            "questions": ["When did you post the form?", "Which office did you send it to?"],
            "reply_by": date(2020, 9, 3),
        },
        "response": {
            "summary": "We have upheld your complaint and refunded the £80 fee.",
            "standard_lines": [
                {"topic": "Refunds", "category": "Billing",
                 "text": "Refunds reach your account within five working days."},
                {"topic": "Apology", "category": "General", "text": "We are sorry for the trouble."},
            ],
        },
    }


def letter_from_paragraphs(path: Path, *paragraphs: list[tuple[str, bool]]) -> Path:
    """A .docx whose paragraphs are given as runs of (text, bold), like Word splits them."""
    document = docx.Document()
    for runs in paragraphs:
        paragraph = document.add_paragraph()
        for text, bold in runs:
            paragraph.add_run(text).bold = bold or None
    document.save(str(path))
    return path


def all_text(data: bytes) -> str:
    """Body, tables, headers and footers, as a reader would see them."""
    document = docx.Document(BytesIO(data))
    footers = [p.text for section in document.sections for p in section.footer.paragraphs]
    return docx_text(data) + "\n" + "\n".join(footers)


# ---------------------------------------------------------------------------------------------
# Default letters


@pytest.mark.parametrize("purpose", PURPOSES)
def test_each_default_letter_shows_who_it_is_to_the_reference_and_the_dates(purpose: str) -> None:
    data = render_letter(LETTERS / f"{purpose}.docx", sample_context())

    text = all_text(data)
    assert "Dear Ada Lovelace" in text
    assert "Ada Lovelace\n12 St James's Square\nLondon\nSW1Y 4JH" in text  # address, one line each
    assert "Our reference: CMP-2020-00042" in text
    assert "20 August 2020" in text  # letter date
    assert "we received on 17 August 2020" in text
    assert "Sam Okafor\nCustomer Relations" in text  # sign-off
    assert "Please quote CMP-2020-00042 when you contact us" in text  # footer on every page
    assert "{{" not in text and "{%" not in text


def test_acknowledgement_letter_quotes_the_complaint_as_recorded() -> None:
    text = docx_text(render_letter(LETTERS / "acknowledgement.docx", sample_context()))

    assert "You lost my renewal form.\nThen you lost it again." in text


def test_clarification_letter_numbers_the_questions_and_gives_the_reply_date() -> None:
    text = docx_text(render_letter(LETTERS / "clarification.docx", sample_context()))

    assert "1. When did you post the form?\n2. Which office did you send it to?" in text
    assert "Please reply by 3 September 2020" in text


def test_clarification_questions_may_be_free_text() -> None:
    context = sample_context()
    context["clarification"]["questions"] = "Which office?\nOn what date?"

    text = docx_text(render_letter(LETTERS / "clarification.docx", context))

    assert "Which office?\nOn what date?" in text


def test_response_letter_gives_the_summary_then_the_chosen_standard_lines() -> None:
    context = sample_context()
    text = docx_text(render_letter(LETTERS / "response.docx", context))

    assert ("refunded the £80 fee.\nRefunds reach your account within five working days.\n\n"
            "We are sorry for the trouble.\nIf you are not satisfied") in text


def test_response_letter_without_summary_or_lines_leaves_no_blank_paragraphs() -> None:
    context = sample_context()
    context["response"] = {"summary": "", "standard_lines": []}

    text = docx_text(render_letter(LETTERS / "response.docx", context))

    assert "received on 17 August 2020.\nIf you are not satisfied" in text


def test_label_and_value_keep_their_own_formatting() -> None:
    data = render_letter(LETTERS / "acknowledgement.docx", sample_context())

    reference = next(p for p in docx.Document(BytesIO(data)).paragraphs if "Our reference" in p.text)
    assert [(run.text, bool(run.bold)) for run in reference.runs] == [
        ("Our reference: ", True),
        ("CMP-2020-00042", False),
    ]


def test_committed_letter_templates_are_what_the_build_script_produces() -> None:
    script = runpy.run_path(str(PROJECT_ROOT / "devtools" / "build_letter_templates.py"))

    for purpose, letter in script["LETTERS"].items():
        built = script["reproducible_bytes"](script["build_letter"](letter))
        assert zip_contents(built) == zip_contents((LETTERS / f"{purpose}.docx").read_bytes()), purpose


def zip_contents(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# ---------------------------------------------------------------------------------------------
# How a letter template is read


def test_placeholder_split_across_runs_renders_in_the_first_runs_formatting(tmp_path: Path) -> None:
    template = letter_from_paragraphs(
        tmp_path / "split.docx",
        [("Dear ", True), ("{{ compl", False), ("ainant.na", True), ("me }}", False), (",", False)],
    )

    data = render_letter(template, sample_context())

    (paragraph,) = docx.Document(BytesIO(data)).paragraphs
    assert paragraph.text == "Dear Ada Lovelace,"
    assert [(run.text, bool(run.bold)) for run in paragraph.runs] == [
        ("Dear ", True),
        ("Ada Lovelace", False),
        ("", True),
        ("", False),
        (",", False),
    ]


def test_block_tag_split_across_runs_renders_the_whole_paragraph_into_its_first_run(
    tmp_path: Path,
) -> None:
    template = letter_from_paragraphs(
        tmp_path / "block.docx",
        [("{% for line in complainant.address_lines %}{{ li", True), ("ne }}; {% end", False),
         ("for %}", False)],
    )  # fmt: skip

    data = render_letter(template, sample_context())

    (paragraph,) = docx.Document(BytesIO(data)).paragraphs
    assert paragraph.text == "12 St James's Square; London; "
    assert paragraph.runs[0].bold and paragraph.runs[0].text == paragraph.text


def test_tables_headers_and_footers_are_rendered(tmp_path: Path) -> None:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Ref {{ case.reference }}"
    document.sections[0].footer.paragraphs[0].text = "{{ team.name }}"
    cell = document.add_table(rows=1, cols=1).cell(0, 0)
    cell.text = "Received {{ case.date_received|longdate }}"
    document.save(str(tmp_path / "parts.docx"))

    data = render_letter(tmp_path / "parts.docx", sample_context())

    rendered = docx.Document(BytesIO(data))
    assert rendered.sections[0].header.paragraphs[0].text == "Ref CMP-2020-00042"
    assert rendered.sections[0].footer.paragraphs[0].text == "Customer Relations"
    assert rendered.tables[0].cell(0, 0).text == "Received 17 August 2020"
    assert "Received 17 August 2020" in docx_text(data)


def test_newlines_in_a_value_become_line_breaks_within_one_paragraph(tmp_path: Path) -> None:
    template = letter_from_paragraphs(tmp_path / "t.docx", [("{{ case.description }}", False)])

    data = render_letter(template, sample_context(description="First line\nSecond line"))

    (paragraph,) = docx.Document(BytesIO(data)).paragraphs
    assert paragraph.text == "First line\nSecond line"
    assert len(paragraph._p.findall(".//" + qn("w:br"))) == 1


def test_paragraph_of_tags_that_renders_empty_is_removed_but_literal_text_stays(
    tmp_path: Path,
) -> None:
    template = letter_from_paragraphs(
        tmp_path / "optional.docx",
        [("Before", False)],
        [("{% if response.summary %}{{ response.summary }}{% endif %}", False)],
        [("Summary: {{ response.summary }}", False)],
        [("After", False)],
    )
    context = sample_context()
    context["response"]["summary"] = ""

    text = docx_text(render_letter(template, context))

    assert text == "Before\nSummary: \nAfter"


def test_values_that_look_like_template_code_stay_literal() -> None:
    injection = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ case.__class__ }}"

    text = docx_text(
        render_letter(LETTERS / "acknowledgement.docx", sample_context(description=injection))
    )

    assert injection in text
    assert "49" not in text


def test_undefined_placeholder_raises_template_error_naming_it(tmp_path: Path) -> None:
    template = letter_from_paragraphs(
        tmp_path / "typo.docx",
        [("Dear {{ complainant.name }}", False)],
        [("Your reference is {{ case.referenc }}", False)],
    )

    with pytest.raises(TemplateError) as raised:
        render_letter(template, sample_context())

    assert raised.value.template == "typo.docx"
    assert raised.value.paragraph == 2
    assert "referenc" in str(raised.value)


def test_missing_top_level_name_raises_even_through_a_filter(tmp_path: Path) -> None:
    template = letter_from_paragraphs(tmp_path / "t.docx", [("{{ deadline|longdate }}", False)])

    with pytest.raises(TemplateError, match="'deadline' is undefined"):
        render_letter(template, sample_context())


def test_template_syntax_error_is_a_template_error(tmp_path: Path) -> None:
    template = letter_from_paragraphs(tmp_path / "t.docx", [("{% if case.reference %}open", False)])

    with pytest.raises(TemplateError, match=r"t\.docx, paragraph 1"):
        render_letter(template, sample_context())


def test_sandbox_refuses_to_reach_python_internals(tmp_path: Path) -> None:
    template = letter_from_paragraphs(
        tmp_path / "t.docx", [("{{ case.items.__globals__ }}", False)]
    )

    with pytest.raises(TemplateError):
        render_letter(template, sample_context())


# ---------------------------------------------------------------------------------------------
# Filters


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2020, 8, 17), "17 August 2020"),
        (date(2021, 1, 1), "1 January 2021"),
        (datetime(2024, 2, 29, 23, 59), "29 February 2024"),
        ("2020-12-31", "31 December 2020"),
    ],
)
def test_longdate(value: Any, expected: str) -> None:
    assert longdate(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234.5"), "£1,234.50"),
        (Decimal("0.005"), "£0.01"),  # half a penny rounds up
        (1234567, "£1,234,567.00"),
        (0.1, "£0.10"),
        (Decimal("-12"), "-£12.00"),
        ("80", "£80.00"),
    ],
)
def test_money(value: Any, expected: str) -> None:
    assert money(value) == expected


def test_filters_refuse_values_they_cannot_format(tmp_path: Path) -> None:
    template = letter_from_paragraphs(tmp_path / "t.docx", [("{{ case.category|money }}", False)])

    with pytest.raises(TemplateError, match="money needs a number"):
        render_letter(template, sample_context())


# ---------------------------------------------------------------------------------------------
# Emails


@pytest.mark.parametrize("purpose", PURPOSES)
def test_each_default_email_renders_a_one_line_subject_and_both_bodies(purpose: str) -> None:
    rendered = render_email(TEMPLATES, purpose, sample_context())

    assert "CMP-2020-00042" in rendered.subject
    assert "\n" not in rendered.subject and rendered.subject == rendered.subject.strip()
    for body in (rendered.text, rendered.html):
        assert "Dear Ada Lovelace" in body
        assert "17 August 2020" in body
        assert "Sam Okafor" in body
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in rendered.html


def test_html_email_escapes_complainant_text_and_plain_text_keeps_it_as_written() -> None:
    context = sample_context(description='<script>alert("hi")</script> & more')

    rendered = render_email(TEMPLATES, "acknowledgement", context)

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt; &amp; more" in rendered.html
    assert '<script>alert("hi")</script> & more' in rendered.text


def test_email_template_errors_name_the_file_and_line(tmp_path: Path) -> None:
    emails = tmp_path / "emails"
    emails.mkdir()
    (emails / "nudge.subject.txt").write_text("Reminder {{ case.reference }}\n")
    (emails / "nudge.txt").write_text("Dear {{ complainant.name }}\n\nReply by {{ reply_by }}\n")
    (emails / "nudge.html").write_text("<p>Hi</p>\n")

    with pytest.raises(TemplateError) as raised:
        render_email(tmp_path, "nudge", sample_context())

    assert raised.value.template == "emails/nudge.txt"
    assert raised.value.line == 3
    assert "'reply_by' is undefined" in str(raised.value)


def test_missing_email_template_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not found"):
        render_email(tmp_path, "acknowledgement", sample_context())


def library_email(**parts: str) -> dict[str, str]:
    return {"subject": "Ref {{ case.reference }}", "text": "Dear {{ complainant.name }}",
            "html": "<p>Dear {{ complainant.name }}</p>", **parts}


def test_email_from_the_library_escapes_html_only_and_keeps_values_literal() -> None:
    context = sample_context(description='<script>alert(1)</script> {{ 7*7 }} & more')
    parts = library_email(text="{{ case.description }}", html="<p>{{ case.description }}</p>")

    rendered = render_email_parts(parts, context, name="emails/acknowledgement-v2-all")

    assert rendered.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }} &amp; more</p>"
    assert rendered.text == "<script>alert(1)</script> {{ 7*7 }} & more"
    assert rendered.subject == "Ref CMP-2020-00042"


def test_email_from_the_library_names_the_part_and_line_of_an_undefined_placeholder() -> None:
    parts = library_email(html="<p>Hi</p>\n<p>{{ complainant.nickname }}</p>")

    with pytest.raises(TemplateError) as raised:
        render_email_parts(parts, sample_context(), name="emails/acknowledgement-v2-all")

    assert raised.value.template == "emails/acknowledgement-v2-all.html"
    assert raised.value.line == 2 and "nickname" in str(raised.value)


@pytest.mark.parametrize(
    ("source", "unknown"),
    [
        ("{% if false %}{{ case.typo }}{% endif %}", "case.typo"),  # a branch a render never takes
        ("{{ deadline|longdate }}", "deadline"),
        ("{{ complainant['nmae'] }}", "complainant.nmae"),
        ("{{ case.__class__ }}", "case.__class__"),
    ],
)
def test_unknown_placeholders_are_found_without_rendering(source: str, unknown: str) -> None:
    with pytest.raises(TemplateError) as raised:
        check_source(source, CASE_FIELDS, template="t.txt")

    assert raised.value.placeholder == unknown


@pytest.mark.parametrize(
    "source",
    [
        "{% for line in complainant.address_lines %}{{ loop.index }}. {{ line }}{% endfor %}",
        "{% set greeting = 'Dear ' ~ complainant.name %}{{ greeting }}",
        "{{ case.reference.upper() }} {{ letter_date.year }} {{ range(2)|list }}",
    ],
)
def test_loop_variables_set_names_and_methods_of_values_are_allowed(source: str) -> None:
    check_source(source, CASE_FIELDS, template="t.txt")


# ---------------------------------------------------------------------------------------------
# Sending


class CollectingHandler:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smtp_settings(port: int) -> Settings:
    return Settings(environment="development", smtp_host="127.0.0.1", smtp_port=port,
                    smtp_timeout_seconds=5)  # fmt: skip


@contextmanager
def smtp_server(handler, **options) -> Iterator[Settings]:
    """A real SMTP server (aiosmtpd) on a free port while the block runs; yields the settings
    that send to it."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield smtp_settings(controller.port)
    finally:
        controller.stop()


def acknowledgement_message() -> tuple[EmailMessage, bytes]:
    context = sample_context()
    rendered = render_email(TEMPLATES, "acknowledgement", context)
    letter = render_letter(LETTERS / "acknowledgement.docx", context)
    message = build_message(
        sender="Complaints Team <complaints@example.org>",
        to=["ada@example.org"],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id="ack-CMP-2020-00042@casework.example.org",
        attachments=[Attachment("CMP-2020-00042 acknowledgement.docx", DOCX_TYPE, letter)],
    )
    return message, letter


def test_email_with_letter_attached_arrives_at_a_real_smtp_server_intact() -> None:
    handler = CollectingHandler()
    with smtp_server(handler) as settings:
        message, letter = acknowledgement_message()
        send_message(settings, message)

    (envelope,) = handler.envelopes
    assert envelope.mail_from == "complaints@example.org"
    assert envelope.rcpt_tos == ["ada@example.org"]
    received = email.message_from_bytes(envelope.content, policy=default_policy)
    assert received.get_content_type() == "multipart/mixed"
    assert received["Subject"] == "We have received your complaint (reference CMP-2020-00042)"
    assert received["Message-ID"] == "<ack-CMP-2020-00042@casework.example.org>"
    assert received["Date"] is not None
    assert "Dear Ada Lovelace" in received.get_body(("plain",)).get_content()
    assert "<strong>CMP-2020-00042</strong>" in received.get_body(("html",)).get_content()
    (attachment,) = received.iter_attachments()
    assert attachment.get_filename() == "CMP-2020-00042 acknowledgement.docx"
    assert attachment.get_content_type() == DOCX_TYPE
    assert attachment.get_content() == letter
    assert "Dear Ada Lovelace" in docx_text(attachment.get_content())


def test_message_without_attachments_is_multipart_alternative() -> None:
    message = build_message(
        sender="complaints@example.org", to=["a@example.org", "b@example.org"], subject="Hi",
        text="plain", html="<p>html</p>", message_id="<x@example.org>", attachments=[],
    )  # fmt: skip

    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "a@example.org, b@example.org"
    assert message["Message-ID"] == "<x@example.org>"


def test_refused_recipient_raises_and_is_classified_permanent() -> None:
    class RefusingHandler(CollectingHandler):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("gone@"):
                return "550 No such mailbox"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    with smtp_server(RefusingHandler()) as settings:
        message = build_message(
            sender="complaints@example.org", to=["ada@example.org", "gone@example.org"],
            subject="Hi", text="plain", html=None, message_id="<y@example.org>",
        )  # fmt: skip
        with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
            send_message(settings, message)

    assert list(raised.value.recipients) == ["gone@example.org"]
    assert is_permanent_failure(raised.value)
    assert not is_permanent_failure(smtplib.SMTPServerDisconnected("closed"))
    assert not is_permanent_failure(smtplib.SMTPSenderRefused(451, b"try later", "x@example.org"))


def test_development_sink_keeps_each_message_as_a_parseable_eml_file(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    controller = run_sink(mail_dir, "127.0.0.1", free_port())
    try:
        message, letter = acknowledgement_message()
        message["Bcc"] = "audit@example.org"
        send_message(smtp_settings(controller.port), message)
    finally:
        controller.stop()

    (saved,) = mail_dir.iterdir()
    assert saved.suffix == ".eml"
    assert "ack-CMP-2020-00042@casework.example.org" in saved.name
    received = email.message_from_bytes(saved.read_bytes(), policy=default_policy)
    assert received["Subject"] == "We have received your complaint (reference CMP-2020-00042)"
    assert received["X-RcptTo"] == "ada@example.org, audit@example.org"
    assert "Bcc" not in received
    (attachment,) = received.iter_attachments()
    assert attachment.get_content() == letter


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_uses_the_configured_credentials_and_a_refused_login_is_permanent() -> None:
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"casework", b"s3cret")
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    handler = CollectingHandler()
    with smtp_server(handler, authenticator=authenticator, auth_require_tls=False,
                     auth_required=True) as settings:
        message, _ = acknowledgement_message()
        good = settings.model_copy(update={"smtp_username": "casework", "smtp_password": "s3cret"})
        send_message(good, message)
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            send_message(good.model_copy(update={"smtp_password": "wrong"}), message)

    assert len(handler.envelopes) == 1
    assert is_permanent_failure(refused.value)


def test_the_stored_bytes_are_the_bytes_the_smtp_server_receives() -> None:
    """Correspondence stores the .eml and sends those very bytes, serialised once."""
    handler = CollectingHandler()
    with smtp_server(handler) as settings:
        message, letter = acknowledgement_message()
        stored = wire_bytes(message)
        send_message(settings, message, stored)

    (envelope,) = handler.envelopes
    assert envelope.mail_from == "complaints@example.org" and envelope.rcpt_tos == ["ada@example.org"]
    assert envelope.original_content.rstrip(b"\r\n") == stored.rstrip(b"\r\n")
    assert all(len(line) <= 998 for line in stored.split(b"\r\n")) and b"\r\n" in stored
    received = email.message_from_bytes(envelope.content, policy=default_policy)
    attachment = next(received.iter_attachments())
    assert attachment.get_content() == letter


def test_non_ascii_names_subject_text_and_filename_arrive_intact_in_seven_bit_ascii() -> None:
    """Display names and the subject as RFC 2047 encoded words, text as quoted-printable UTF-8,
    the filename as an RFC 2231 parameter: the wire is plain ASCII any mail server relays."""
    handler = CollectingHandler()
    pdf = bytes(range(256)) * 8
    text = "Dear Zoë,\n\nWe have refunded the £80 fee.\n" + "A long line " * 20 + "\nEnd  \n"
    with smtp_server(handler) as settings:
        message = build_message(
            sender="Équipe des plaintes <complaints@example.org>",
            to=['"O\'Brien, Zoë" <zoe@example.org>', "bob@example.org"],
            subject="Votre réclamation — remboursement de £80 " + "et plus " * 8,
            text=text, html="<p>Dear Zoë, £80</p>", message_id="nonascii@example.org",
            attachments=[Attachment("réponse finale.pdf", "application/pdf", pdf)],
        )
        stored = wire_bytes(message)
        send_message(settings, message, stored)

    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == ["zoe@example.org", "bob@example.org"]
    assert stored.isascii() and all(len(line) <= 78 for line in stored.split(b"\r\n"))
    received = email.message_from_bytes(envelope.content, policy=default_policy)
    assert received["From"] == "Équipe des plaintes <complaints@example.org>"
    assert received["To"].addresses[0].display_name == "O'Brien, Zoë"
    assert received["Subject"] == "Votre réclamation — remboursement de £80 " + "et plus " * 8
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert received.get_body(("html",)).get_content().strip() == "<p>Dear Zoë, £80</p>"
    (attachment,) = received.iter_attachments()
    assert attachment.get_filename() == "réponse finale.pdf"
    assert attachment.get_content_type() == "application/pdf" and attachment.get_content() == pdf


def test_a_long_header_with_nowhere_to_fold_it_keeps_its_value() -> None:
    """A long URL (the digest's List-Unsubscribe) stays on its header's line, without the
    leading space a fold before it would add."""
    message = build_message(sender="complaints@example.org", to=["a@example.org"], subject="Digest",
                            text="plain", html=None, message_id="<z@example.org>")
    url = "<https://casework.example.org/digests/unsubscribe?token=" + "x" * 90 + ">"
    message["List-Unsubscribe"] = url
    message["X-Words"] = "word " * 30

    received = email.message_from_bytes(wire_bytes(message), policy=default_policy)
    assert received["List-Unsubscribe"] == url
    assert received["X-Words"].split() == ["word"] * 30


def test_an_internationalised_address_is_sent_with_smtputf8() -> None:
    handler = CollectingHandler()
    with smtp_server(handler, enable_SMTPUTF8=True) as settings:
        message = build_message(sender="complaints@example.org", to=["zoë@exämple.org"],
                                subject="Réclamation", text="Bonjour", html=None,
                                message_id="<eai@example.org>")
        send_message(settings, message, wire_bytes(message))

    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == ["zoë@exämple.org"]
    received = email.message_from_bytes(envelope.content, policy=default_policy)
    assert received["To"] == "zoë@exämple.org" and received["Subject"] == "Réclamation"
    assert received.get_content().strip() == "Bonjour"
