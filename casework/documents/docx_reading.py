"""What the printer reads from a .docx letter: its body text with the formatting it lays out, and
its page (size, margins, header and footer), read straight from the zip with lxml.

Only the main document, its styles, and the header and footer of the first section are opened;
nothing else in the package is. (python-docx parsed every part, numbering, settings, theme and
all, which was half the CPU of printing a short response.) The reading follows python-docx's own
rules, so a document prints as it did when python-docx read it: the same runs, the same style
look-ups, the same lengths. `casework.documents.pdf` lays the result out on the page.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from types import MappingProxyType
from typing import Mapping, overload

from lxml import etree
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm

__all__ = ["Letter", "LetterParagraph", "LetterTable", "Page", "Run", "UnreadableDocx", "main_document",
           "read_letter"]


class UnreadableDocx(ValueError):
    """The package is a zip but not a Word document the printer can read."""


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_MAIN_DOCUMENT = _RELATIONSHIP + "officeDocument"
_WORD_DOCUMENT = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
# Word files are not trusted input: no entities, no network, no DTDs. Blank text between
# elements is dropped, as python-docx's parser does.
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                            remove_blank_text=True)

_P, _R, _TBL, _TR, _TC = (f"{_W}{tag}" for tag in ("p", "r", "tbl", "tr", "tc"))
_PPR, _RPR, _TRPR, _TCPR = (f"{_W}{tag}" for tag in ("pPr", "rPr", "trPr", "tcPr"))
_VAL = f"{_W}val"
_PAGE_BREAK = f'.//{_W}br[@{_W}type="page"]'
# The first section's properties: python-docx's sections[0].
_FIRST_SECTION = etree.XPath("(w:p/w:pPr/w:sectPr | w:sectPr)[1]",
                             namespaces={"w": _W[1:-1]})

_ALIGN = {"left": TA_LEFT, "center": TA_CENTER, "right": TA_RIGHT, "both": TA_JUSTIFY}
_EMU_PER_PT = 12700
_EMU_PER_TWIP = 635
_EMU_PER_HALF_POINT = 6350
_EMU_PER_UNIT = {"mm": 36000, "cm": 360000, "in": 914400, "pt": 12700, "pc": 152400, "pi": 152400}


@dataclass(frozen=True)
class Page:
    width: float = A4[0]
    height: float = A4[1]
    left: float = 2.5 * cm
    right: float = 2.5 * cm
    top: float = 2.0 * cm
    bottom: float = 2.0 * cm
    header: str = ""
    footer: str = ""
    footer_size: float = 9


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool
    italic: bool


@dataclass(frozen=True)
class LetterParagraph:
    runs: tuple[Run, ...]  # those with text
    size: float  # points, for the whole paragraph
    alignment: int  # reportlab's TA_*
    space_after: float  # points
    indent: float  # left, points
    page_break_after: bool


@dataclass(frozen=True)
class LetterTable:
    rows: tuple[tuple[str, ...], ...]  # the text of each cell


@dataclass(frozen=True)
class Letter:
    """What the printer takes from a .docx: body text with its formatting, and the page."""
    blocks: tuple[LetterParagraph | LetterTable, ...]
    page: Page
    base_size: float  # the Normal style's font size, points
    spacing: float  # the Normal style's line spacing, in lines



def read_letter(data: bytes) -> Letter:
    """What the printer needs from a .docx. Raises UnreadableDocx, or whatever the zip or XML
    reading raised (a missing part, bad XML, a length that is not a number)."""
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return _LetterReader(archive).read()


# ---- the package -----------------------------------------------------------------------------


def _xml(archive: zipfile.ZipFile, name: str) -> etree._Element:
    return etree.fromstring(archive.read(name), parser=_SAFE_XML)


def _relationships(archive: zipfile.ZipFile, source: str) -> dict[str, tuple[str, str]]:
    """Id -> (type, part name) of the internal relationships of part ``source`` ("" for the
    package itself). Targets are relative to the source part's folder, as in python-docx."""
    folder, name = posixpath.split(source)
    try:
        root = _xml(archive, posixpath.join(folder, "_rels", f"{name}.rels"))
    except KeyError:  # a part without relationships
        return {}
    found = {}
    for rel in root.iter(f"{_PACKAGE_RELS}Relationship"):
        if rel.get("TargetMode") != "External":
            target = posixpath.normpath(posixpath.join("/", folder, rel.get("Target", "")))
            found[rel.get("Id")] = (rel.get("Type"), target[1:])
    return found


def _related(relationships: dict[str, tuple[str, str]], kind: str) -> str | None:
    """The part name of the first relationship of type ``kind``, if any."""
    return next((name for rel_type, name in relationships.values() if rel_type == kind), None)


def main_document(archive: zipfile.ZipFile) -> tuple[str, etree._Element]:
    """The main document's part name and its w:body; UnreadableDocx if there is no body."""
    name = _related(_relationships(archive, ""), _MAIN_DOCUMENT)
    body = _xml(archive, name).find(f"{_W}body") if name else None
    if name is None or body is None:
        raise UnreadableDocx("not a readable .docx file: it has no main document body")
    return name, body


def _content_type(archive: zipfile.ZipFile, name: str) -> str:
    """A part's content type from [Content_Types].xml: its override, else its extension's."""
    root = _xml(archive, "[Content_Types].xml")
    overrides = {o.get("PartName", "").lower(): o.get("ContentType")
                 for o in root.iter(f"{_CONTENT_TYPES}Override")}
    defaults = {d.get("Extension", "").lower(): d.get("ContentType")
                for d in root.iter(f"{_CONTENT_TYPES}Default")}
    extension = posixpath.splitext(name)[1][1:].lower()
    found = overrides.get(f"/{name}".lower()) or defaults.get(extension)
    if found is None:
        raise KeyError(f"no content type for part {name}")
    return found


# ---- values ----------------------------------------------------------------------------------


@overload
def _emu(value: str, emu_per_unit: int) -> int: ...
@overload
def _emu(value: str | None, emu_per_unit: int) -> int | None: ...
def _emu(value: str | None, emu_per_unit: int) -> int | None:
    """A length attribute in EMU: a plain number of twips or half-points, or a number with its
    unit ("1.5cm", "12pt"), rounded as python-docx rounds it."""
    if value is None:
        return None
    unit = value[-2:]
    if unit in _EMU_PER_UNIT:
        return int(round(float(value[:-2]) * _EMU_PER_UNIT[unit]))
    return int(round(float(value))) * emu_per_unit


def _points(value: str | None, emu_per_unit: int = _EMU_PER_TWIP) -> float | None:
    emu = _emu(value, emu_per_unit)
    return emu / _EMU_PER_PT if emu is not None else None


def _child(properties: etree._Element | None, tag: str) -> etree._Element | None:
    """The first w:``tag`` child of a w:pPr, w:rPr, w:sectPr... that may itself be absent."""
    return properties.find(f"{_W}{tag}") if properties is not None else None


def _attribute(properties: etree._Element | None, tag: str, name: str = "val") -> str | None:
    """w:``name`` of that child (w:val by default), None when either is absent."""
    element = _child(properties, tag)
    return element.get(f"{_W}{name}") if element is not None else None


def _on_off(properties: etree._Element | None, tag: str) -> bool | None:
    """A w:b-like switch: None when absent, on when present without a value."""
    element = _child(properties, tag)
    if element is None:
        return None
    return element.get(_VAL, "true") in ("1", "true", "on")


def _first(*values):
    return next((v for v in values if v is not None), None)


@dataclass(frozen=True)
class _RunFormat:
    """Direct character formatting (a w:rPr); None: not set at this level."""
    size: float | None = None
    bold: bool | None = None
    italic: bool | None = None

    @classmethod
    def of(cls, rpr: etree._Element | None) -> _RunFormat:
        if rpr is None:
            return _NO_RUN_FORMAT
        return cls(_points(_attribute(rpr, "sz"), _EMU_PER_HALF_POINT), _on_off(rpr, "b"), _on_off(rpr, "i"))


@dataclass(frozen=True)
class _ParagraphFormat:
    """Direct paragraph formatting (a w:pPr); None: not set at this level."""
    alignment: str | None = None  # w:jc, e.g. "center"
    space_after: float | None = None
    indent: float | None = None
    line: str | None = None  # w:spacing/@w:line and @w:lineRule
    line_rule: str | None = None

    @classmethod
    def of(cls, ppr: etree._Element | None) -> _ParagraphFormat:
        if ppr is None:
            return _NO_PARAGRAPH_FORMAT
        return cls(_attribute(ppr, "jc"), _points(_attribute(ppr, "spacing", "after")),
                   _points(_attribute(ppr, "ind", "left")), _attribute(ppr, "spacing", "line"),
                   _attribute(ppr, "spacing", "lineRule"))

    def lines(self) -> float | None:
        """Line spacing as a number of lines; None if unset or set as a fixed height."""
        if self.line is None or self.line_rule not in (None, "auto"):
            return None
        return _emu(self.line, _EMU_PER_TWIP) / (12 * _EMU_PER_PT)


_NO_RUN_FORMAT = _RunFormat()
_NO_PARAGRAPH_FORMAT = _ParagraphFormat()


# ---- styles ----------------------------------------------------------------------------------

# Word stores the built-in heading styles as "heading 1".."heading 9" and shows "Heading 1".
_WORD_HEADING_NAMES = frozenset(f"heading {level}" for level in range(1, 10))


@dataclass(frozen=True)
class _Style:
    """A paragraph style's own formatting (not what it inherits: python-docx did not follow
    w:basedOn either)."""
    name: str = ""
    run: _RunFormat = _NO_RUN_FORMAT
    paragraph: _ParagraphFormat = _NO_PARAGRAPH_FORMAT

    @classmethod
    def of(cls, style: etree._Element | None) -> _Style:
        if style is None:
            return _NO_STYLE
        return cls(_attribute(style, "name") or "", _RunFormat.of(style.find(_RPR)),
                   _ParagraphFormat.of(style.find(_PPR)))

    @property
    def is_title(self) -> bool:
        return self.name == "Title"

    @property
    def is_heading(self) -> bool:
        return self.is_title or self.name.startswith("Heading") or self.name in _WORD_HEADING_NAMES


_NO_STYLE = _Style()


@dataclass(frozen=True)
class _Styles:
    """The paragraph styles of word/styles.xml, looked up the way python-docx looks them up.
    Shared between documents (see _read_styles), so it is never changed after it is made."""
    normal: _Style  # "Normal", found by name (or failing that by id), whatever its type
    default: _Style  # the default paragraph style
    by_id: Mapping[str, _Style]  # the paragraph styles

    def paragraph_style(self, style_id: str | None) -> _Style:
        """The paragraph style with this id; the default paragraph style when there is no id,
        or no paragraph style has it."""
        return self.by_id.get(style_id, self.default) if style_id else self.default


_NO_STYLES = _Styles(_NO_STYLE, _NO_STYLE, MappingProxyType({}))


@lru_cache(maxsize=8)
def _read_styles(xml: bytes) -> _Styles:
    """Every letter from one template carries the same styles part, byte for byte (python-docx's
    default one is 350 KB and takes ~7 ms to parse), so each distinct one is parsed once; the
    cache is keyed on the bytes themselves, so a document never gets another's styles."""
    by_id: dict[str, etree._Element] = {}
    default = normal = None
    for style in etree.fromstring(xml, parser=_SAFE_XML).iterchildren(f"{_W}style"):
        by_id.setdefault(style.get(f"{_W}styleId"), style)  # the first one with an id counts
        is_paragraph_style = style.get(f"{_W}type") == "paragraph"
        if is_paragraph_style and style.get(f"{_W}default") in ("1", "true", "on"):
            default = style  # the last default one counts
        if normal is None and _attribute(style, "name") == "Normal":
            normal = style
    paragraph_styles = {style_id: _Style.of(style) for style_id, style in by_id.items()
                        if style_id and style.get(f"{_W}type") == "paragraph"}
    return _Styles(_Style.of(_first(normal, by_id.get("Normal"))), _Style.of(default),
                   MappingProxyType(paragraph_styles))


# ---- text ------------------------------------------------------------------------------------


# Besides w:t, what python-docx reads as a run's text (w:br is a "\n" only as a line break).
_RUN_CHARACTERS = {f"{_W}tab": "\t", f"{_W}ptab": "\t", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}
_T, _BR, _BR_TYPE = f"{_W}t", f"{_W}br", f"{_W}type"


def _run_text(run: etree._Element) -> str:
    """A w:r's text, with tabs, line breaks and non-breaking hyphens as characters."""
    parts = []
    for child in run:
        if child.tag == _T:
            parts.append(child.text or "")
        elif child.tag == _BR:
            parts.append("\n" if child.get(_BR_TYPE, "textWrapping") == "textWrapping" else "")
        else:
            parts.append(_RUN_CHARACTERS.get(child.tag, ""))
    return "".join(parts)


def _paragraph_text(paragraph: etree._Element) -> str:
    """A w:p's plain text: its runs and the runs of its hyperlinks."""
    parts = []
    for child in paragraph:
        if child.tag == _R:
            parts.append(_run_text(child))
        elif child.tag == f"{_W}hyperlink":
            parts.extend(_run_text(run) for run in child.iterchildren(_R))
    return "".join(parts)


def _story_text(root: etree._Element) -> str:
    """A header or footer as text: its non-blank paragraphs, a line each."""
    texts = (_paragraph_text(p) for p in root.iterchildren(_P))
    return "\n".join(text for text in texts if text.strip())


# ---- the document ----------------------------------------------------------------------------


class _LetterReader:
    """Reads a .docx package into a Letter, opening only the parts the printer uses."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        self._name, self._body = main_document(archive)
        content_type = _content_type(archive, self._name)
        if content_type != _WORD_DOCUMENT:
            raise UnreadableDocx(f"not a readable .docx file: its main part is {content_type}, not a Word document")
        self._rels = _relationships(archive, self._name)
        styles = _related(self._rels, _RELATIONSHIP + "styles")
        self._styles = _read_styles(archive.read(styles)) if styles else _NO_STYLES

    def read(self) -> Letter:
        normal = self._styles.normal
        base_size = _first(normal.run.size, 11.0)
        blocks: list[LetterParagraph | LetterTable] = []
        for child in self._body.iterchildren(_P, _TBL):
            if child.tag == _P:
                blocks.append(self._paragraph(child, base_size))
            else:
                blocks.append(LetterTable(_table_rows(child)))
        return Letter(tuple(blocks), self._page(), base_size, _first(normal.paragraph.lines(), 1.15))

    def _paragraph(self, paragraph: etree._Element, base_size: float) -> LetterParagraph:
        properties = paragraph.find(_PPR)
        own = _ParagraphFormat.of(properties)
        style = self._styles.paragraph_style(_attribute(properties, "pStyle"))
        # A run's own size becomes the paragraph's: reportlab lays the paragraph out in one size.
        size = _first(style.run.size, 18.0 if style.is_title else 14.0 if style.is_heading else base_size)
        runs = []
        for run in paragraph.iterchildren(_R):
            text = _run_text(run)
            if not text:
                continue
            direct = _RunFormat.of(run.find(_RPR))
            size = _first(direct.size, size)
            runs.append(Run(text, bold=_first(direct.bold, style.run.bold, style.is_heading),
                             italic=_first(direct.italic, style.run.italic, False)))
        return LetterParagraph(
            tuple(runs), size,
            alignment=_ALIGN.get(_first(own.alignment, style.paragraph.alignment), TA_LEFT),
            space_after=_first(own.space_after, style.paragraph.space_after, size * 0.9),
            indent=_first(own.indent, style.paragraph.indent, 0),
            page_break_after=paragraph.find(_PAGE_BREAK) is not None,
        )

    def _page(self) -> Page:
        """Page size, margins, header and footer from the first section (A4 when it has none)."""
        section = next(iter(_FIRST_SECTION(self._body)), None)
        if section is None:
            return Page()

        def length(tag: str, name: str, default: float) -> float:
            return _first(_points(_attribute(section, tag, name)), default)

        return Page(
            width=length("pgSz", "w", A4[0]), height=length("pgSz", "h", A4[1]),
            left=length("pgMar", "left", 2.5 * cm), right=length("pgMar", "right", 2.5 * cm),
            top=length("pgMar", "top", 2 * cm), bottom=length("pgMar", "bottom", 2 * cm),
            header=self._header_footer(section, "headerReference"),
            footer=self._header_footer(section, "footerReference"),
        )

    def _header_footer(self, section: etree._Element, reference: str) -> str:
        """The text of the section's default header or footer ("" when it has none)."""
        ref = section.find(f'{_W}{reference}[@{_W}type="default"]')
        if ref is None:
            return ""
        _, name = self._rels[ref.get(_R_ID)]
        return _story_text(_xml(self._archive, name))


def _table_rows(table: etree._Element) -> tuple[tuple[str, ...], ...]:
    """The text of each cell, row by row. As python-docx read rows: a cell spanning columns
    counts once per column, and a cell merged into the one above repeats that cell's text."""
    rows = []
    above: dict[int, tuple[str, int]] = {}  # grid column -> (text, span) of the row above
    for row in table.iterchildren(_TR):
        cells: list[str] = []
        here: dict[int, tuple[str, int]] = {}
        column = int(_attribute(row.find(_TRPR), "gridBefore") or 0)
        for cell in row.iterchildren(_TC):
            properties = cell.find(_TCPR)
            span = int(_attribute(properties, "gridSpan") or 1)
            if _continues_merge(properties):
                here[column] = above[column]  # KeyError: nothing above to merge with
            else:
                here[column] = ("\n".join(_paragraph_text(p) for p in cell.iterchildren(_P)), span)
            text, width = here[column]
            cells += [text] * width
            column += span
        rows.append(tuple(cells))
        above = here
    return tuple(rows)


def _continues_merge(cell_properties: etree._Element | None) -> bool:
    """Whether the cell continues a vertical merge (w:vMerge without w:val="restart")."""
    merge = _child(cell_properties, "vMerge")
    return merge is not None and merge.get(_VAL, "continue") == "continue"
