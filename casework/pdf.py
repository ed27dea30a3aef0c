"""Print-ready PDFs for the post room, drawn with reportlab (pure Python, installed from PyPI).

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

import docx
import pypdf
import reportlab
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph as DocxParagraph
from lxml import etree
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

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
    fonts = [TTFont(name, str(path)) for name, path in zip(names, paths)]
    for font in fonts:
        pdfmetrics.registerFont(font)
    pdfmetrics.registerFontFamily(_FAMILY, normal=names[0], bold=names[1], italic=names[2],
                                  boldItalic=names[3])
    # Only characters every face can draw count as printable.
    glyphs = frozenset.intersection(*(frozenset(f.face.charToGlyph) for f in fonts))
    return _Fonts(*names, glyphs=glyphs)


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
# Page layout


@dataclass(frozen=True)
class _Page:
    width: float = A4[0]
    height: float = A4[1]
    left: float = 2.5 * cm
    right: float = 2.5 * cm
    top: float = 2.0 * cm
    bottom: float = 2.0 * cm
    header: str = ""
    footer: str = ""
    footer_size: float = 9


def _build(flowables: list, page: _Page, *, title: str, subject: str) -> bytes:
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
# .docx

_ALIGN = {
    WD_ALIGN_PARAGRAPH.LEFT: TA_LEFT,
    WD_ALIGN_PARAGRAPH.CENTER: TA_CENTER,
    WD_ALIGN_PARAGRAPH.RIGHT: TA_RIGHT,
    WD_ALIGN_PARAGRAPH.JUSTIFY: TA_JUSTIFY,
}
_PAGE_BREAK = f'.//{qn("w:br")}[@{qn("w:type")}="page"]'


def letter_pdf(data: bytes, *, title: str = "Letter", subject: str = "") -> bytes:
    """Lay out a .docx (e.g. a rendered letter) as a print-ready PDF."""
    try:
        document = docx.Document(BytesIO(data))
    except Exception as exc:  # python-docx raises several unrelated types for a bad file
        raise PdfError(f"not a readable .docx file: {exc}") from exc
    normal = document.styles["Normal"]
    base_size = normal.font.size.pt if normal.font.size else 11.0
    line_spacing = normal.paragraph_format.line_spacing
    spacing = line_spacing if isinstance(line_spacing, float) else 1.15
    flowables: list = []
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            paragraph = DocxParagraph(child, document)
            flowables.append(_paragraph(paragraph, base_size, spacing))
            if child.findall(_PAGE_BREAK):
                flowables.append(PageBreak())
        elif child.tag == qn("w:tbl"):
            flowables.append(_table(DocxTable(child, document), base_size, spacing))
    section = document.sections[0]
    page = _Page(
        width=_pt(section.page_width, A4[0]), height=_pt(section.page_height, A4[1]),
        left=_pt(section.left_margin, 2.5 * cm), right=_pt(section.right_margin, 2.5 * cm),
        top=_pt(section.top_margin, 2 * cm), bottom=_pt(section.bottom_margin, 2 * cm),
        header="\n".join(p.text for p in section.header.paragraphs if p.text.strip()),
        footer="\n".join(p.text for p in section.footer.paragraphs if p.text.strip()),
    )
    return _build(flowables, page, title=title, subject=subject)


def _pt(length, default: float) -> float:
    return length.pt if length is not None else default


def _paragraph(paragraph: DocxParagraph, base_size: float, spacing: float) -> Paragraph:
    style = paragraph.style
    style_name = style.name if style is not None else ""
    heading = style_name.startswith("Heading") or style_name == "Title"
    size = _first(style.font.size.pt if style is not None and style.font.size else None,
                  18.0 if style_name == "Title" else 14.0 if heading else base_size)
    runs = []
    for run in paragraph.runs:
        text = run.text
        if not text:
            continue
        size = run.font.size.pt if run.font.size else size
        bold = _first(run.bold, style.font.bold if style is not None else None, heading)
        italic = _first(run.italic, style.font.italic if style is not None else None, False)
        markup = _markup(text)
        if bold:
            markup = f"<b>{markup}</b>"
        if italic:
            markup = f"<i>{markup}</i>"
        runs.append(markup)
    fmt = paragraph.paragraph_format
    style_fmt = style.paragraph_format if style is not None else None
    alignment = _first(fmt.alignment, style_fmt.alignment if style_fmt else None, WD_ALIGN_PARAGRAPH.LEFT)
    after = _first(fmt.space_after, style_fmt.space_after if style_fmt else None)
    indent = _first(fmt.left_indent, style_fmt.left_indent if style_fmt else None)
    fonts = _fonts()
    return Paragraph(
        "".join(runs) or "&nbsp;",
        ParagraphStyle(
            "p", fontName=fonts.regular, fontSize=size, leading=size * 1.2 * spacing,
            alignment=_ALIGN.get(alignment, TA_LEFT),
            spaceAfter=after.pt if after is not None else size * 0.9,
            leftIndent=indent.pt if indent is not None else 0,
        ),
    )


def _first(*values):
    return next((v for v in values if v is not None), None)


def _table(table: DocxTable, base_size: float, spacing: float) -> Table:
    fonts = _fonts()
    cell_style = ParagraphStyle("cell", fontName=fonts.regular, fontSize=base_size,
                                leading=base_size * 1.2 * spacing)
    rows = [[Paragraph(_markup(cell.text), cell_style) for cell in row.cells] for row in table.rows]
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
    return _build(flowables, _Page(), title=title, subject=subject)


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


_PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_MAIN_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
# Word files are not trusted input: no entities, no network, no DTDs.
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def check_docx(content: bytes) -> None:
    """Refuse (PdfError) a .docx without a readable main document: not a zip, no document part,
    or XML that does not parse. It reads only the parts it needs (opening the whole package with
    python-docx took ~17 ms per upload); printing reads the rest and reports what it cannot."""
    body = None
    try:
        with zipfile.ZipFile(BytesIO(content)) as archive:
            rels = etree.fromstring(archive.read("_rels/.rels"), parser=_SAFE_XML)
            main = next((r.get("Target") for r in rels.iter(f"{_PACKAGE_RELS}Relationship")
                         if r.get("Type") == _MAIN_DOCUMENT), None)
            if main:
                body = etree.fromstring(archive.read(main.lstrip("/")), parser=_SAFE_XML).find(qn("w:body"))
    except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError) as exc:
        raise PdfError(f"not a readable .docx file: {exc}") from exc
    if body is None:
        raise PdfError("not a readable .docx file: it has no main document body")


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
