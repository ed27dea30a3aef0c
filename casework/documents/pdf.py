"""Print-ready PDFs for the post room, drawn with reportlab (wheels from PyPI).

A letter is rendered to .docx first (that is what people edit and what the template library holds);
its paragraphs are then laid out on the page size and margins of the .docx (A4 by default): text,
bold and italic runs, alignment, indents, spacing, line and page breaks, simple tables, and the
header and footer on every page. It is not a full Word layout engine: pictures, text boxes and
fields are left out. The post room prints what Word would show in its text, not a screenshot.

Fonts: DejaVu Sans when the machine has it (Debian's fonts-dejavu-core), otherwise the Bitstream
Vera fonts that ship inside reportlab, so a fresh ``pip install`` is enough. A character neither
font has is printed as its unaccented base letter (ő -> o), or "?" when there is none.
"""

from __future__ import annotations

import unicodedata
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

import pypdf
import reportlab
from lxml import etree
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from casework.documents import safety
from casework.documents.docx_reading import (
    Letter,
    LetterParagraph,
    LetterTable,
    Page,
    Run,
    UnreadableDocx,
    main_document,
    read_letter,
)

__all__ = ["PdfError", "check_printable", "document_pdf", "letter_pdf", "pdf_text", "text_pdf"]

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"


class PdfError(ValueError):
    """The document cannot be turned into a PDF (not a readable .docx, .odt or .pdf)."""


# ---------------------------------------------------------------------------------------------
# Fonts

_FONT_CANDIDATES = (
    (Path("/usr/share/fonts/truetype/dejavu"),
     ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf")),
    (Path(reportlab.__file__).parent / "fonts", ("Vera.ttf", "VeraBd.ttf", "VeraIt.ttf", "VeraBI.ttf")),
)
_FAMILY = "LetterSans"


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    italic: str
    bold_italic: str
    glyphs: frozenset[int]


@lru_cache(maxsize=1)
def _fonts() -> _Fonts:
    for directory, files in _FONT_CANDIDATES:
        paths = [directory / name for name in files]
        if all(path.is_file() for path in paths):
            break
    names = [f"{_FAMILY}", f"{_FAMILY}-Bold", f"{_FAMILY}-Italic", f"{_FAMILY}-BoldItalic"]
    fonts = [TTFont(name, str(path)) for name, path in zip(names, paths, strict=True)]
    for font in fonts:
        pdfmetrics.registerFont(font)
    pdfmetrics.registerFontFamily(_FAMILY, normal=names[0], bold=names[1], italic=names[2],
                                  boldItalic=names[3])
    # Only characters every face can draw count as printable.
    glyphs = frozenset.intersection(*(frozenset(f.face.charToGlyph) for f in fonts))
    regular, bold, italic, bold_italic = names
    return _Fonts(regular, bold, italic, bold_italic, glyphs=glyphs)


def _printable(text: str) -> str:
    glyphs = _fonts().glyphs
    out = []
    for char in text:
        if ord(char) in glyphs or char in "\n\t":
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if ord(c) in glyphs
                       and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


def _markup(text: str) -> str:
    """Text as reportlab paragraph markup: escaped, so user text is never read as markup
    (reportlab's <img src> would otherwise read local files), with line breaks kept."""
    text = escape(_printable(text))
    return text.replace("\n", "<br/>").replace("\t", "&nbsp;" * 4)


# ---------------------------------------------------------------------------------------------
# Page layout (the page's size, margins, header and footer: docx_reading.Page)


def _build(flowables: list, page: Page, *, title: str, subject: str) -> bytes:
    out = BytesIO()
    fonts = _fonts()
    # The footer needs its own space above the bottom edge, inside the bottom margin.
    document = SimpleDocTemplate(
        out, pagesize=(page.width, page.height), leftMargin=page.left, rightMargin=page.right,
        topMargin=page.top, bottomMargin=page.bottom, title=title, subject=subject,
        author="casework", creator="casework", invariant=1,
    )
    chrome = ParagraphStyle("chrome", fontName=fonts.regular, fontSize=page.footer_size,
                            leading=page.footer_size * 1.3, alignment=TA_CENTER,
                            textColor=colors.HexColor("#595959"))

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        width = page.width - page.left - page.right
        if page.header:
            header = Paragraph(_markup(page.header), chrome)
            _, height = header.wrap(width, page.top)
            header.drawOn(canvas, page.left, page.height - page.top / 2 - height / 2)
        if page.footer:
            footer = Paragraph(_markup(page.footer), chrome)
            _, height = footer.wrap(width, page.bottom)
            footer.drawOn(canvas, page.left, page.bottom / 2 - height / 2)
        canvas.restoreState()

    document.build(flowables or [Spacer(1, 1)], onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# .docx, as casework.documents.docx_reading reads it


def letter_pdf(data: bytes, *, title: str = "Letter", subject: str = "") -> bytes:
    """Lay out a .docx (e.g. a rendered letter) as a print-ready PDF."""
    letter = _read_letter(data)
    return _build(_flowables(letter), letter.page, title=title, subject=subject)


def _read_letter(data: bytes) -> Letter:
    """What the printer needs from a .docx. Anything wrong in the package (zip, XML, a missing
    part, a length that is not a number) makes it "not a readable .docx", whatever raised it."""
    _check_archive(data)
    try:
        return read_letter(data)
    except UnreadableDocx as exc:
        raise PdfError(str(exc)) from exc
    except Exception as exc:
        raise PdfError(f"not a readable .docx file: {exc}") from exc


def _flowables(letter: Letter) -> list:
    """The letter's body as reportlab flowables, ready for _build."""
    flowables: list = []
    for block in letter.blocks:
        if isinstance(block, LetterTable):
            flowables.append(_table_flowable(block, letter))
            continue
        flowables.append(_paragraph_flowable(block, letter.spacing))
        if block.page_break_after:
            flowables.append(PageBreak())
    return flowables


def _paragraph_flowable(paragraph: LetterParagraph, spacing: float) -> Paragraph:
    size = paragraph.size
    return Paragraph(
        "".join(_run_markup(run) for run in paragraph.runs) or "&nbsp;",
        ParagraphStyle(
            "p", fontName=_fonts().regular, fontSize=size, leading=size * 1.2 * spacing,
            alignment=paragraph.alignment, spaceAfter=paragraph.space_after,
            leftIndent=paragraph.indent,
        ),
    )


def _run_markup(run: Run) -> str:
    markup = _markup(run.text)
    if run.bold:
        markup = f"<b>{markup}</b>"
    if run.italic:
        markup = f"<i>{markup}</i>"
    return markup


def _table_flowable(table: LetterTable, letter: Letter) -> Table:
    size = letter.base_size
    cell_style = ParagraphStyle("cell", fontName=_fonts().regular, fontSize=size,
                                leading=size * 1.2 * letter.spacing)
    rows = [[Paragraph(_markup(text), cell_style) for text in row] for row in table.rows]
    flowable = Table(rows or [[""]], hAlign="LEFT")
    flowable.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#b1b4b6")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return flowable


# ---------------------------------------------------------------------------------------------
# .odt and plain paragraphs

_ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


def odt_paragraphs(data: bytes) -> list[tuple[str, bool]]:
    """(text, is_heading) for each paragraph and heading of an OpenDocument text file."""
    _check_archive(data)
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            if archive.read("mimetype").decode().strip() != ODT:
                raise PdfError("not an OpenDocument text (.odt) file")
            root = etree.fromstring(archive.read("content.xml"))
    except KeyError as exc:
        raise PdfError("not an OpenDocument text (.odt) file") from exc
    except (zipfile.BadZipFile, etree.XMLSyntaxError) as exc:
        raise PdfError(f"not a readable .odt file: {exc}") from exc
    body = root.find(f"{{{_ODF_OFFICE}}}body")
    if body is None:
        raise PdfError("not a readable .odt file: no document body")
    found = []
    for element in body.iter(f"{{{_ODF_TEXT}}}p", f"{{{_ODF_TEXT}}}h"):
        found.append((_odf_text(element), element.tag == f"{{{_ODF_TEXT}}}h"))
    return found


def _odf_text(element: etree._Element) -> str:
    parts = [element.text or ""]
    for child in element:
        tag = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if tag == "s":
            parts.append(" " * int(child.get(f"{{{_ODF_TEXT}}}c", "1")))
        elif tag == "tab":
            parts.append("\t")
        elif tag == "line-break":
            parts.append("\n")
        elif tag not in ("p", "h"):  # nested paragraphs are visited on their own
            parts.append(_odf_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def text_pdf(paragraphs: list[tuple[str, bool]], *, title: str = "Letter", subject: str = "") -> bytes:
    """A4 pages of plain paragraphs, (text, bold) each."""
    fonts = _fonts()
    body = ParagraphStyle("body", fontName=fonts.regular, fontSize=11, leading=11 * 1.4, spaceAfter=10)
    flowables = [Paragraph(f"<b>{_markup(text)}</b>" if bold else _markup(text) or "&nbsp;", body)
                 for text, bold in paragraphs]
    return _build(flowables, Page(), title=title, subject=subject)


# ---------------------------------------------------------------------------------------------
# Any response document


def document_pdf(content: bytes, content_type: str, *, title: str = "Letter", subject: str = "") -> bytes:
    """A print-ready PDF of a response document: a PDF as it is, a .docx or .odt laid out."""
    if content_type == PDF:
        check_pdf(content)
        return content
    if content_type == DOCX:
        return letter_pdf(content, title=title, subject=subject)
    if content_type == ODT:
        return text_pdf(odt_paragraphs(content), title=title, subject=subject)
    raise PdfError(f"cannot print a {content_type} document; use .docx, .odt or .pdf")


def check_printable(content: bytes, content_type: str) -> None:
    """Refuse (PdfError) a response document the post room could not print."""
    if content_type == PDF:
        check_pdf(content)
    elif content_type == DOCX:
        check_docx(content)
    elif content_type == ODT:
        odt_paragraphs(content)
    else:
        raise PdfError(f"cannot print a {content_type} document; use .docx, .odt or .pdf")


def check_docx(content: bytes) -> None:
    """Refuse (PdfError) a .docx without a readable main document: not a zip, no document part,
    or XML that does not parse. It reads only the main document (an upload is checked before it
    is stored); printing reads the parts it lays out and reports what it cannot."""
    _check_archive(content)
    try:
        with zipfile.ZipFile(BytesIO(content)) as archive:
            main_document(archive)
    except UnreadableDocx as exc:
        raise PdfError(str(exc)) from exc
    except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError) as exc:
        raise PdfError(f"not a readable .docx file: {exc}") from exc


def _check_archive(content: bytes) -> None:
    """The package's limits (casework.documents.safety), before anything unpacks it."""
    try:
        safety.check_archive(content)
    except safety.NotAnArchive:
        pass  # the reader says "not a readable .docx" (or .odt) itself
    except safety.UnsafeFile as exc:
        raise PdfError(str(exc)) from exc


def check_pdf(content: bytes) -> int:
    """The page count of a readable, unencrypted PDF; PdfError otherwise."""
    try:
        reader = pypdf.PdfReader(BytesIO(content))
        if reader.is_encrypted:
            raise PdfError("the PDF is password-protected, so it cannot be printed")
        pages = len(reader.pages)
    except PdfError:
        raise
    except Exception as exc:  # pypdf raises a variety of errors for damaged files
        raise PdfError(f"not a readable PDF: {exc}") from exc
    if pages == 0:
        raise PdfError("the PDF has no pages")
    return pages


def pdf_text(content: bytes) -> str:
    """The text of every page, as a reader (or a test) would extract it."""
    reader = pypdf.PdfReader(BytesIO(content))
    return "\n".join(page.extract_text() or "" for page in reader.pages)
