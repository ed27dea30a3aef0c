"""Print-ready PDFs, opened again with pypdf the way the post room's printer would get them."""

from __future__ import annotations

import zipfile
from io import BytesIO

import docx
import pypdf
import pytest
from docx.shared import Cm

from casework import pdf, template_library
from casework.config import PROJECT_ROOT
from casework.rendering import render_letter

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
