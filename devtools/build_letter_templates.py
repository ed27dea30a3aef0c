"""Build the default letter templates in templates/letters/ with python-docx.

    python devtools/build_letter_templates.py

Re-running reproduces the same bytes (fixed document properties and zip timestamps), so the .docx
files only change in version control when this script does. Placeholders are listed in
docs/letters-and-templates.md. An organisation's own letters can replace these files: any .docx
edited in Word works, as long as each ``{% ... %}`` block opens and closes within one paragraph.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

import docx
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt, RGBColor

LETTERS_DIR = Path(__file__).resolve().parents[1] / "templates" / "letters"

# Zip entries and document properties carry this instead of "now", so output is reproducible.
FIXED_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

RECEIVED = "{{ case.date_received|longdate }}"
ADDRESS = (
    "{{ complainant.name }}"
    "{% for line in complainant.address_lines %}\n{{ line }}{% endfor %}"
    "{% if complainant.postcode %}\n{{ complainant.postcode }}{% endif %}"
)
NUMBERED_QUESTIONS = (
    "{% if clarification.questions is string %}{{ clarification.questions }}"
    "{% else %}{% for question in clarification.questions %}"
    "{{ loop.index }}. {{ question }}{% if not loop.last %}\n{% endif %}"
    "{% endfor %}{% endif %}"
)


@dataclass(frozen=True)
class Paragraph:
    text: str
    italic: bool = False
    indent: bool = False


@dataclass(frozen=True)
class LetterText:
    title: str
    heading: str
    body: tuple[Paragraph, ...]
    address: str = ADDRESS
    salutation: str = "Dear {{ complainant.name }}"


STANDARD_LINES = (
    "{% for line in response.standard_lines %}{{ line.text }}"
    "{% if not loop.last %}\n\n{% endif %}{% endfor %}"
)


LETTERS: dict[str, LetterText] = {
    "acknowledgement": LetterText(
        title="Acknowledgement of a complaint",
        heading="We have received your complaint",
        body=(
            Paragraph(
                f"Thank you for your complaint, which we received on {RECEIVED}. I am writing to "
                "confirm that we have recorded it and that {{ team.name }} will look into it."
            ),
            Paragraph("We have recorded your complaint as:"),
            Paragraph("{{ case.description }}", italic=True, indent=True),
            Paragraph(
                "We aim to send you a full response within the time set out in our complaints "
                "procedure. If we need more information from you, or more time, we will contact "
                "you and explain why."
            ),
            Paragraph(
                "If you have anything to add in the meantime, please get in touch and quote "
                "reference {{ case.reference }}."
            ),
        ),
    ),
    "clarification": LetterText(
        title="Request for more information about a complaint",
        heading="We need more information about your complaint",
        body=(
            Paragraph(
                f"Thank you for your complaint, which we received on {RECEIVED}. To look into it "
                "fully, we need some more information from you."
            ),
            Paragraph("Please could you tell us:"),
            Paragraph(NUMBERED_QUESTIONS, indent=True),
            Paragraph(
                "Please reply by {{ clarification.reply_by|longdate }}, quoting reference "
                "{{ case.reference }}."
            ),
            Paragraph(
                "If you need more time, or would rather talk this through with us, please contact "
                "us before that date."
            ),
        ),
    ),
    "contribution": LetterText(
        title="Request for a contribution to a complaint response",
        heading="Request for a contribution to complaint {{ case.reference }}",
        address="{{ recipient.name }}",
        salutation="Dear {{ recipient.name }}",
        body=(
            Paragraph(
                "{{ team.name }} is investigating a complaint from {{ complainant.name }} about "
                f"{{{{ case.category }}}}, which we received on {RECEIVED}. We would be grateful "
                "for your help with the following:"
            ),
            Paragraph("{{ contribution.request }}", italic=True, indent=True),
            Paragraph(
                "Please send your contribution by {{ contribution.due_date|longdate }}, quoting "
                "reference {{ case.reference }}."
            ),
            Paragraph("The complaint, as we recorded it:"),
            Paragraph("{{ case.description }}", italic=True, indent=True),
        ),
    ),
    "response": LetterText(
        title="Response to a complaint",
        heading="Our response to your complaint",
        body=(
            Paragraph(
                "Thank you for your patience while we looked into your complaint, which we "
                f"received on {RECEIVED}."
            ),
            # Both paragraphs disappear when empty: the drafter's own words, then the lines chosen.
            Paragraph("{% if response.summary %}{{ response.summary }}{% endif %}"),
            Paragraph(STANDARD_LINES),
            Paragraph(
                "If you are not satisfied with our response, please write to us quoting reference "
                "{{ case.reference }} and tell us what you remain unhappy about. We will explain "
                "the next steps open to you."
            ),
        ),
    ),
    "holding_response": LetterText(
        title="Holding response to a complaint",
        heading="An update on your complaint",
        body=(
            Paragraph(
                f"Thank you for your complaint, which we received on {RECEIVED}. I am sorry that "
                "we have not yet been able to send you our full response."
            ),
            Paragraph("{{ holding.reason }}"),
            Paragraph(
                "We now expect to send you our response by {{ holding.new_due_date|longdate }}. "
                "If that changes, we will let you know."
            ),
            Paragraph(
                "If you have any questions in the meantime, please contact us quoting reference "
                "{{ case.reference }}."
            ),
        ),
    ),
    "stage2_acknowledgement": LetterText(
        title="Acknowledgement of a request for review (stage 2)",
        heading="We have received your request for a review of your complaint",
        body=(
            Paragraph(
                "Thank you for asking us to review how we handled your complaint"
                "{% if case.escalated_from %} (our reference {{ case.escalated_from }}){% endif %}. "
                f"We received your request on {RECEIVED}."
            ),
            Paragraph(
                "Someone from {{ team.name }} who was not involved in our first response will "
                "review your complaint. The review has its own reference: {{ case.reference }}."
            ),
            Paragraph("You told us:"),
            Paragraph("{{ case.description }}", italic=True, indent=True),
            Paragraph(
                "We aim to send you the outcome of the review within the time set out in our "
                "complaints procedure. If we need more information or more time, we will contact "
                "you and explain why."
            ),
        ),
    ),
}


def build_letter(letter: LetterText) -> Document:
    document = docx.Document()
    _page_and_styles(document)
    _core_properties(document, letter.title)

    _add(document, "{{ team.name }}", bold=True, align=WD_ALIGN_PARAGRAPH.RIGHT, after=0)
    _add(document, "{{ letter_date|longdate }}", align=WD_ALIGN_PARAGRAPH.RIGHT, after=24)
    _add(document, letter.address, after=24)

    reference = document.add_paragraph()
    reference.add_run("Our reference: ").bold = True
    reference.add_run("{{ case.reference }}")
    reference.paragraph_format.space_after = Pt(18)

    _add(document, letter.salutation)
    _add(document, letter.heading, bold=True)
    for paragraph in letter.body:
        added = _add(document, paragraph.text, italic=paragraph.italic)
        if paragraph.indent:
            added.paragraph_format.left_indent = Cm(1)

    _add(document, "Yours sincerely", after=36)
    _add(document, "{{ sender.name }}\n{{ team.name }}")

    footer = document.sections[0].footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = footer.add_run("{{ team.name }} · Please quote {{ case.reference }} when you contact us")
    run.font.size = Pt(9)
    run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)
    return document


def _page_and_styles(document: Document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)  # A4
    section.left_margin = section.right_margin = Cm(2.5)
    section.top_margin = section.bottom_margin = Cm(2.0)
    normal = document.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(11)
    normal.paragraph_format.space_after = Pt(10)
    normal.paragraph_format.line_spacing = 1.15


def _core_properties(document: Document, title: str) -> None:
    properties = document.core_properties
    properties.title = title
    properties.author = "casework"
    properties.last_modified_by = "casework"
    properties.comments = "Default template; placeholders are listed in docs/letters-and-templates.md"
    properties.created = properties.modified = FIXED_TIME
    properties.revision = 1


def _add(
    document: Document,
    text: str,
    *,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
    after: float | None = None,
):
    paragraph = document.add_paragraph()
    run = paragraph.add_run(text)  # "\n" becomes a line break within the paragraph
    run.bold = bold or None
    run.italic = italic or None
    if align is not None:
        paragraph.alignment = align
    if after is not None:
        paragraph.paragraph_format.space_after = Pt(after)
    return paragraph


def reproducible_bytes(document: Document) -> bytes:
    saved = BytesIO()
    document.save(saved)
    out = BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(entry))
    return out.getvalue()


def main() -> None:
    LETTERS_DIR.mkdir(parents=True, exist_ok=True)
    for purpose, letter in LETTERS.items():
        path = LETTERS_DIR / f"{purpose}.docx"
        path.write_bytes(reproducible_bytes(build_letter(letter)))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
