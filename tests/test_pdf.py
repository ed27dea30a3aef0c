"""Print-ready PDFs, opened again with pypdf the way the post room's printer would get them."""

from __future__ import annotations

import zipfile
from io import BytesIO

import docx
import pypdf
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT

from casework.documents import docx_reading, pdf, template_library
from casework.platform.config import PROJECT_ROOT
from casework.documents.rendering import render_letter

LETTERS = PROJECT_ROOT / "templates" / "letters"
A4 = (595.3, 841.9)


def words(data: bytes) -> str:
    return " ".join(pdf.pdf_text(data).split())


def rendered(purpose: str, **complainant) -> bytes:
    context = template_library.sample_context(purpose)
    context["complainant"].update(complainant)
    return render_letter(LETTERS / f"{purpose}.docx", context)


def test_letter_is_an_a4_pdf_with_address_reference_and_sign_off():
    data = pdf.letter_pdf(rendered("acknowledgement"), title="Acknowledgement", subject="COMP/000123/26")

    reader = pypdf.PdfReader(BytesIO(data))
    (page,) = reader.pages
    assert (round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1)) == A4
    assert reader.metadata.title == "Acknowledgement" and reader.metadata.subject == "COMP/000123/26"
    text = pdf.pdf_text(data)
    assert "Jane Citizen\n1 High Street\nAnytown\nAB1 2CD" in text  # address block, a line each
    assert "Our reference: COMP/000123/26" in text
    assert "Dear Jane Citizen" in text and "Dev Drafter\nCentral Complaints Hub" in text


def test_footer_repeats_on_every_page_and_page_breaks_are_kept():
    document = docx.Document()
    document.sections[0].footer.paragraphs[0].text = "Please quote COMP/1 when you contact us"
    for number in range(1, 80):
        document.add_paragraph(f"Paragraph {number} of a long response.")
    document.add_paragraph().add_run().add_break(docx.enum.text.WD_BREAK.PAGE)
    document.add_paragraph("After the page break.")
    buffer = BytesIO()
    document.save(buffer)

    reader = pypdf.PdfReader(BytesIO(pdf.letter_pdf(buffer.getvalue())))

    assert len(reader.pages) >= 3
    for page in reader.pages:
        assert "Please quote COMP/1 when you contact us" in page.extract_text()
    assert "After the page break." in reader.pages[-1].extract_text()
    assert "Paragraph 79" not in reader.pages[-1].extract_text()


def test_page_size_and_margins_come_from_the_document():
    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21.59), Cm(27.94)  # US Letter
    document.add_paragraph("Hello")
    buffer = BytesIO()
    document.save(buffer)

    (page,) = pypdf.PdfReader(BytesIO(pdf.letter_pdf(buffer.getvalue()))).pages

    assert round(float(page.mediabox.width)) == 612 and round(float(page.mediabox.height)) == 792


def test_user_text_is_printed_as_written_never_read_as_markup():
    name = 'Jo <img src="/etc/passwd"/> <b>Bold</b> & Co'

    text = words(pdf.letter_pdf(rendered("acknowledgement", name=name)))

    assert f"Dear {name}" in text


def test_characters_the_font_lacks_print_as_their_base_letter_or_a_question_mark():
    # The Latin-1 and common European letters are in every font we may use.
    text = words(pdf.text_pdf([("Zoë Łukasz Ærøskøbing", False), ("Order ＡＢＣ-１２ for 中", True)]))

    assert "Zoë Łukasz Ærøskøbing" in text
    assert "Order ABC-12 for ?" in text  # full-width letters have a plain form; 中 has none


def test_odt_and_pdf_responses_are_printable_and_other_files_are_refused():
    odt = BytesIO()
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", pdf.ODT)
        archive.writestr("content.xml", (
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
            '<text:h>Our response</text:h><text:p>Dear Jane,<text:line-break/>we are'
            '<text:s text:c="1"/>sorry.</text:p></office:text></office:body></office:document-content>'))
    printed = pdf.document_pdf(odt.getvalue(), pdf.ODT)
    assert "Our response\nDear Jane,\nwe are sorry." in pdf.pdf_text(printed)

    assert pdf.document_pdf(printed, pdf.PDF) == printed  # a PDF is already print-ready
    with pytest.raises(pdf.PdfError, match="not a readable PDF"):
        pdf.document_pdf(b"%PDF-1.4 truncated", pdf.PDF)
    with pytest.raises(pdf.PdfError, match="cannot print"):
        pdf.document_pdf(b"hello", "text/plain")
    with pytest.raises(pdf.PdfError, match="not a readable .docx"):
        pdf.letter_pdf(b"PK\x03\x04 broken")


def test_the_same_letter_prints_to_the_same_bytes():
    letter = rendered("clarification")
    assert pdf.letter_pdf(letter) == pdf.letter_pdf(letter)


def test_an_uploaded_docx_is_checked_by_its_main_document_without_opening_the_rest():
    from tests.casefixtures import docx_bytes

    pdf.check_printable(docx_bytes("Dear Jane"), pdf.DOCX)  # a real Word document passes

    def package(parts: dict[str, str]) -> bytes:
        out = BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, text in parts.items():
                archive.writestr(name, text)
        return out.getvalue()

    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="r1" Target="word/document.xml" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument"/></Relationships>')
    refused = [
        b"PK\x03\x04 broken",  # not a zip
        package({"word/document.xml": "<x/>"}),  # no package relationships
        package({"_rels/.rels": rels.replace("document.xml", "missing.xml")}),  # no main document
        package({"_rels/.rels": rels, "word/document.xml": "<w:document"}),  # broken XML
        package({"_rels/.rels": rels, "word/document.xml": "<document/>"}),  # no body
    ]
    for content in refused:
        with pytest.raises(pdf.PdfError, match="not a readable .docx"):
            pdf.check_printable(content, pdf.DOCX)


# ---- the .docx reader: what it printed when python-docx opened the package -------------------
# The expected texts and formats below were taken from the python-docx reader (ffc8a06) printing
# the same documents; bench/pdf_cpu.py checks the two print byte-identical PDFs.


def saved(document) -> bytes:
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def drafted_response() -> bytes:
    """A response drafted in python-docx with most of what the printer honours."""
    document = docx.Document()
    document.add_heading("Our response", level=0)
    document.add_heading("What happened", level=1)
    paragraph = document.add_paragraph("We charged you ")
    paragraph.add_run("twice").bold = True
    paragraph.add_run(" for ")
    paragraph.add_run("March").italic = True
    run = paragraph.add_run(", which was wrong.")
    run.bold, run.italic = True, True
    document.add_paragraph("Refund agreed").alignment = WD_ALIGN_PARAGRAPH.CENTER
    document.add_paragraph("Complaints team").alignment = WD_ALIGN_PARAGRAPH.RIGHT
    quoted = document.add_paragraph("In your words: charged twice")
    quoted.paragraph_format.left_indent, quoted.paragraph_format.space_after = Cm(1), Pt(3)
    document.add_paragraph().add_run("Small print").font.size = Pt(8)
    table = document.add_table(rows=3, cols=2)
    for row, (item, amount) in zip(table.rows, [("Item", "Amount"), ("March", "£42.10"), ("Total", "")]):
        row.cells[0].text, row.cells[1].text = item, amount
    table.cell(1, 1).merge(table.cell(2, 1))  # one amount for the last two rows
    document.add_paragraph("End of page one").add_run().add_break(docx.enum.text.WD_BREAK.PAGE)
    document.add_paragraph("Line one\tand a tab").add_run().add_break()
    document.paragraphs[-1].add_run("line two")
    section = document.sections[0]
    section.header.paragraphs[0].text = "OFFICIAL"
    section.footer.paragraphs[0].text = "Please quote COMP/7"
    return saved(document)


def test_a_drafted_response_prints_the_text_it_printed_with_python_docx():
    text = pdf.pdf_text(pdf.letter_pdf(drafted_response()))

    assert text == (
        "OFFICIAL\n Please quote COMP/7\nOur response\nWhat happened\n"
        "We charged you twice for March, which was wrong.\n Refund agreed\n Complaints team\n"
        "In your words: charged twice\nSmall print\nItem\nAmount\nMarch\n£42.10\nTotal\n£42.10\n"
        "End of page one\n\nOFFICIAL\n Please quote COMP/7\nLine one    and a tab\nline two\n"
    )


def test_a_drafted_response_keeps_its_runs_sizes_alignment_spacing_table_and_breaks():
    letter = docx_reading.read_letter(drafted_response())

    blocks = [block.rows if isinstance(block, docx_reading.LetterTable) else
              ("".join(run.text for run in block.runs), block.size, block.alignment, block.space_after,
               block.indent, block.page_break_after)
              for block in letter.blocks]
    assert blocks == [
        ("Our response", 26.0, TA_LEFT, 15.0, 0, False),  # the Title style's own size and spacing
        ("What happened", 14.0, TA_LEFT, 0.0, 0, False),  # a heading without a size of its own
        ("We charged you twice for March, which was wrong.", 11.0, TA_LEFT, 9.9, 0, False),
        ("Refund agreed", 11.0, TA_CENTER, 9.9, 0, False),
        ("Complaints team", 11.0, TA_RIGHT, 9.9, 0, False),
        ("In your words: charged twice", 11.0, TA_LEFT, 3.0, 28.35, False),
        ("Small print", 8.0, TA_LEFT, 7.2, 0, False),  # a run's size is the paragraph's
        (("Item", "Amount"), ("March", "£42.10\n"), ("Total", "£42.10\n")),  # merged down
        ("End of page one", 11.0, TA_LEFT, 9.9, 0, True),
        ("Line one\tand a tab\nline two", 11.0, TA_LEFT, 9.9, 0, False),
    ]
    assert [(run.text, run.bold, run.italic) for run in letter.blocks[0].runs] == [
        ("Our response", True, False)]  # headings are bold unless a run says otherwise
    assert [(run.text, run.bold, run.italic) for run in letter.blocks[2].runs] == [
        ("We charged you ", False, False), ("twice", True, False), (" for ", False, False),
        ("March", False, True), (", which was wrong.", True, True)]
    assert (letter.base_size, letter.spacing) == (11.0, 1.15)
    assert (letter.page.header, letter.page.footer) == ("OFFICIAL", "Please quote COMP/7")


def test_a_rendered_letter_prints_the_text_and_layout_it_printed_with_python_docx():
    letter = rendered("acknowledgement")

    assert pdf.pdf_text(pdf.letter_pdf(letter)) == (
        "Central Complaints Hub · Please quote COMP/000123/26 when you contact us\n"
        " Central Complaints Hub\n 7 January 2026\nJane Citizen\n1 High Street\nAnytown\nAB1 2CD\n"
        "Our reference: COMP/000123/26\nDear Jane Citizen\nWe have received your complaint\n"
        "Thank you for your complaint, which we received on 5 January 2026. I am\n"
        "writing to confirm that we have recorded it and that Central Complaints Hub will\n"
        "look into it.\nWe have recorded your complaint as:\nI was charged twice for my March bill.\n"
        "We aim to send you a full response within the time set out in our complaints\n"
        "procedure. If we need more information from you, or more time, we will contact\n"
        "you and explain why.\nIf you have anything to add in the meantime, please get in touch and quote\n"
        "reference COMP/000123/26.\nYours sincerely\nDev Drafter\nCentral Complaints Hub\n"
    )
    first, _, address, reference, *_, quoted, _, _, sign_off, _ = docx_reading.read_letter(letter).blocks
    assert (first.runs[0].bold, first.alignment, first.space_after) == (True, TA_RIGHT, 0.0)
    assert address.runs[0].text == "Jane Citizen\n1 High Street\nAnytown\nAB1 2CD"
    assert [(run.text, run.bold) for run in reference.runs] == [
        ("Our reference: ", True), ("COMP/000123/26", False)]
    assert (quoted.runs[0].italic, quoted.indent) == (True, 28.35)
    assert sign_off.space_after == 36.0


def test_each_document_is_printed_with_its_own_styles():
    def with_normal_size(points: float) -> bytes:
        document = docx.Document()
        document.styles["Normal"].font.size = Pt(points)
        document.styles["Normal"].paragraph_format.line_spacing = 1.5
        document.add_paragraph("Hello")
        return saved(document)

    small, large = docx_reading.read_letter(with_normal_size(9)), docx_reading.read_letter(with_normal_size(14))

    assert (small.base_size, small.blocks[0].size, small.spacing) == (9.0, 9.0, 1.5)
    assert (large.base_size, large.blocks[0].size) == (14.0, 14.0)


def test_a_macro_document_or_a_damaged_value_is_not_a_readable_docx():
    def replaced(data: bytes, part: str, old: str, new: str) -> bytes:
        out = BytesIO()
        with zipfile.ZipFile(BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
            for item in source.infolist():
                content = source.read(item.filename)
                if item.filename == part:
                    content = content.decode().replace(old, new).encode()
                target.writestr(item, content)
        return out.getvalue()

    draft = drafted_response()
    macros = replaced(draft, "[Content_Types].xml", pdf.DOCX + ".main+xml",
                      "application/vnd.ms-word.document.macroEnabled.main+xml")
    for content in (macros, replaced(draft, "word/document.xml", 'w:w="12240"', 'w:w="wide"')):
        with pytest.raises(pdf.PdfError, match="not a readable .docx"):
            pdf.letter_pdf(content)
