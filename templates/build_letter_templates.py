"""Build the default letter templates in templates/letters/ with python-docx.

    python templates/build_letter_templates.py

Re-running reproduces the same bytes (fixed document properties and zip timestamps), so the .docx
files only change in version control when this script does. Placeholders are listed in
casework/rendering.py. An organisation's own letters can replace these files: any .docx edited in
Word works, as long as each ``{% ... %}`` block opens and closes within one paragraph.
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

LETTERS_DIR = Path(__file__).resolve().parent / "letters"

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
    "response": LetterText(
        title="Response to a complaint",
        heading="Our response to your complaint",
        body=(
            Paragraph(
                "Thank you for your patience while we looked into your complaint, which we "
                f"received on {RECEIVED}."
            ),
            Paragraph(
                "{% if response.summary %}{{ response.summary }}"
                "{% else %}Our full response is enclosed with this letter.{% endif %}"
            ),
            Paragraph(
                "If you are not satisfied with our response, please write to us quoting reference "
                "{{ case.reference }} and tell us what you remain unhappy about. We will explain "
                "the next steps open to you."
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
    _add(document, ADDRESS, after=24)

    reference = document.add_paragraph()
    reference.add_run("Our reference: ").bold = True
    reference.add_run("{{ case.reference }}")
    reference.paragraph_format.space_after = Pt(18)

    _add(document, "Dear {{ complainant.name }}")
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
    properties.comments = "Default template; placeholders are listed in casework/rendering.py"
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
