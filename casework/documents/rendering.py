"""Letters (.docx) and emails rendered from Jinja templates.

Placeholder reference — the context every letter and email template receives::

    case:          reference, type_name, date_received (date), category, description, channel
    complainant:   name, email, phone, address_lines (list[str]), postcode
    team:          name
    sender:        name
    letter_date:   date
    clarification: questions (str, newlines kept, or list[str]), reply_by (date)
                   -- only for purpose "clarification"
    response:      summary (str, may be "")  -- only for purpose "response"

Filters: ``{{ case.date_received|longdate }}`` gives "17 August 2020"; ``{{ amount|money }}`` gives
"£1,234.50". A placeholder the context does not define is an error, never a blank.

How a letter template is read:

- Every paragraph (body, tables, headers, footers) containing ``{{`` or ``{%`` is one template, so a
  ``{% for %}`` or ``{% if %}`` must open and close in the same paragraph. A newline in the result,
  including one typed as Shift+Enter in Word, is a line break within the paragraph.
- Word often splits ``{{ case.reference }}`` across several runs. The runs a placeholder spans are
  joined and the result takes the formatting of the first of them; text between placeholders keeps
  its own runs and formatting. A paragraph with ``{%`` is joined whole, into its first run.
- A paragraph holding nothing but tags that renders to nothing is removed, so an optional section
  (``{% if response.summary %}...{% endif %}``) leaves no blank line.
- Values are data: the sandbox renders them once and never evaluates them, so a description of
  ``{{ 7*7 }}`` appears literally.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from io import BytesIO
from itertools import accumulate
from pathlib import Path
from typing import Any, Iterator, Mapping

import docx
import jinja2
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import nsmap, qn
from jinja2 import FileSystemLoader, StrictUndefined, Undefined, select_autoescape
from jinja2.exceptions import FilterArgumentError
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

__all__ = [
    "EMAIL_PARTS",
    "RenderedEmail",
    "TemplateError",
    "docx_text",
    "letter_sources",
    "longdate",
    "money",
    "new_environment",
    "render_email",
    "render_email_parts",
    "render_letter",
]

# An email template is three files (or three texts in the template library): subject, text, HTML.
EMAIL_PARTS = {"subject": ".subject.txt", "text": ".txt", "html": ".html"}


class TemplateError(Exception):
    """A template cannot be rendered: bad syntax, an undefined placeholder, a value a filter refuses."""

    def __init__(
        self, template: str, message: str, *, line: int | None = None, paragraph: int | None = None,
        placeholder: str | None = None,
    ) -> None:
        self.template = template
        self.message = message
        self.line = line
        self.paragraph = paragraph
        self.placeholder = placeholder  # the unknown name, when that is the problem
        where = template
        if paragraph is not None:
            where += f", paragraph {paragraph}"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


# ---------------------------------------------------------------------------------------------
# Filters

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_PENNY = Decimal("0.01")


def longdate(value: date | str) -> str:
    """17 August 2020. Accepts a date, a datetime or an ISO date string (as JSON payloads carry them)."""
    _reject_undefined(value)
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            raise FilterArgumentError(f"longdate needs a date, got {value!r}") from None
    if not isinstance(value, date):
        raise FilterArgumentError(f"longdate needs a date, got {type(value).__name__}")
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def money(value: Decimal | float | int | str) -> str:
    """£1,234.50, rounding half-pennies up; negative amounts read -£12.00."""
    _reject_undefined(value)
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise FilterArgumentError(f"money needs a number, got {type(value).__name__}")
    try:
        # str() first so a float prints as written (0.1, not its binary expansion).
        amount = Decimal(str(value))
    except InvalidOperation:
        raise FilterArgumentError(f"money needs a number, got {value!r}") from None
    if not amount.is_finite():
        raise FilterArgumentError(f"money needs a finite number, got {value!r}")
    pounds = amount.quantize(_PENNY, rounding=ROUND_HALF_UP)
    sign = "-" if pounds < 0 else ""
    return f"{sign}£{abs(pounds):,.2f}"


def _reject_undefined(value: Any) -> None:
    # A missing placeholder handed to a filter must fail with its own name, not "got Undefined".
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()


def new_environment(**options: Any) -> SandboxedEnvironment:
    """The sandboxed, strict environment every template is compiled in (filters included)."""
    return _new_environment(**options)


def _new_environment(**options: Any) -> SandboxedEnvironment:
    environment = SandboxedEnvironment(
        undefined=StrictUndefined, keep_trailing_newline=True, **options
    )
    environment.filters["longdate"] = longdate
    environment.filters["money"] = money
    return environment


# Paragraph text goes into Word XML, not HTML: nothing to escape.
_LETTER_ENVIRONMENT = _new_environment(autoescape=False)


@lru_cache(maxsize=8)
def _email_environment(templates_dir: Path) -> SandboxedEnvironment:
    return _new_environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(("html", "htm", "xml"), default_for_string=False),
    )


@lru_cache(maxsize=4096)
def _paragraph_template(source: str) -> jinja2.Template:
    # Compiling is far slower than rendering, and the same paragraphs come back for every letter.
    return _LETTER_ENVIRONMENT.from_string(source)


# ---------------------------------------------------------------------------------------------
# Emails

_PURPOSE = re.compile(r"[a-z0-9][a-z0-9_-]*")


def render_email(templates_dir: Path, purpose: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render ``emails/{purpose}.subject.txt``, ``.txt`` and ``.html`` under ``templates_dir``.

    Only the HTML part is autoescaped. The subject is collapsed to one line.
    """
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError(f"not a template purpose: {purpose!r}")
    environment = _email_environment(Path(templates_dir).resolve())
    values = dict(context)
    subject, text, html = (
        _render_file(environment, f"emails/{purpose}{suffix}", values)
        for suffix in (".subject.txt", ".txt", ".html")
    )
    return RenderedEmail(subject=" ".join(subject.split()), text=text, html=html)


def render_email_parts(
    parts: Mapping[str, str], context: Mapping[str, Any], *, name: str
) -> RenderedEmail:
    """Render an email held as texts (``subject``, ``text``, ``html``), e.g. from the template library.

    Errors name ``{name}.subject.txt`` / ``.txt`` / ``.html``, so they read as for shipped files.
    The HTML part is autoescaped exactly as a shipped ``.html`` file is.
    """
    environment = _parts_environment(
        tuple((f"{name}{suffix}", parts[part]) for part, suffix in EMAIL_PARTS.items()))
    values = dict(context)
    subject, text, html = (
        _render_file(environment, f"{name}{suffix}", values) for suffix in EMAIL_PARTS.values()
    )
    return RenderedEmail(subject=" ".join(subject.split()), text=text, html=html)


@lru_cache(maxsize=256)
def _parts_environment(sources: tuple[tuple[str, str], ...]) -> SandboxedEnvironment:
    """One environment per set of texts, so each is compiled once and not on every email (an
    uploaded new version has other texts, hence its own environment)."""
    table = dict(sources)
    return _new_environment(
        loader=jinja2.FunctionLoader(
            lambda template: (table[template], template, lambda: True) if template in table else None
        ),
        autoescape=select_autoescape(("html", "htm", "xml"), default_for_string=False),
    )


def _render_file(environment: SandboxedEnvironment, name: str, values: dict[str, Any]) -> str:
    try:
        return environment.get_template(name).render(values)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(name, f"template {exc.name!r} not found") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.name or name, exc.message or str(exc), line=exc.lineno) from exc
    except jinja2.TemplateError as exc:
        failing_name, line = _failing_template_line(exc, environment)
        raise TemplateError(failing_name or name, str(exc), line=line) from exc


def _failing_template_line(
    exc: BaseException, environment: SandboxedEnvironment
) -> tuple[str | None, int | None]:
    """Template file and line of a render error, from the frames Jinja rewrites to point at them."""
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    filename, line = found
    loader = environment.loader
    if filename and isinstance(loader, FileSystemLoader):
        for root in loader.searchpath:
            path = Path(filename)
            if path.is_relative_to(root):
                filename = path.relative_to(root).as_posix()
                break
    return filename, line


# ---------------------------------------------------------------------------------------------
# Letters

_W = nsmap["w"]
_P, _R, _T = qn("w:p"), qn("w:r"), qn("w:t")
_BR, _CR, _TAB, _PTAB = qn("w:br"), qn("w:cr"), qn("w:tab"), qn("w:ptab")
_NO_BREAK_HYPHEN, _SOFT_HYPHEN = qn("w:noBreakHyphen"), qn("w:softHyphen")
_BR_TYPE = qn("w:type")
_XML_SPACE = qn("xml:space")

# Cheap pre-filter: only paragraphs with a "{" somewhere are worth joining runs for.
_PARAGRAPHS_WITH_BRACE = etree.XPath('.//w:p[.//w:t[contains(., "{")]]', namespaces={"w": _W})
# The runs whose text is the paragraph's text (python-docx's Paragraph.text reads the same ones).
_PARAGRAPH_RUNS = etree.XPath("./w:r | ./w:hyperlink/w:r", namespaces={"w": _W})
# Content a paragraph must not lose by being dropped when it renders empty.
_KEEPS_PARAGRAPH = etree.XPath(
    "boolean(.//w:drawing | .//w:pict | .//w:object | .//w:fldChar | .//w:fldSimple"
    " | .//w:sectPr | .//w:br[@w:type and @w:type != 'textWrapping'])",
    namespaces={"w": _W},
)

_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_ANY_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_LINE_BREAK_OR_TAB = re.compile(r"(\n|\t)")
# Characters XML 1.0 cannot hold; user text pasted from elsewhere sometimes carries them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render_letter(
    template: Path | bytes, context: Mapping[str, Any], *, name: str | None = None
) -> bytes:
    """Fill a .docx template's placeholders from ``context`` and return the new document's bytes.

    ``template`` is a path or the .docx bytes (a template from the library); ``name`` is what
    errors call it (default: the file name).
    """
    document, name = _open_letter(template, name)
    values = dict(context)
    for part in _story_parts(document):
        root = part.element
        for paragraph in _PARAGRAPHS_WITH_BRACE(root):
            try:
                _render_paragraph(paragraph, values)
            except jinja2.TemplateError as exc:
                number = next(i for i, p in enumerate(root.iter(_P), 1) if p is paragraph)
                message = getattr(exc, "message", None) or str(exc)
                raise TemplateError(_story_name(name, part), message, paragraph=number) from exc
    out = BytesIO()
    document.save(out)
    return out.getvalue()


def letter_sources(template: Path | bytes, *, name: str | None = None) -> Iterator[tuple[str, int, str]]:
    """Each templated paragraph of a .docx as (where, paragraph number, Jinja source).

    ``where`` and the number are what a render error would report, so a checker that reads
    the sources (e.g. for unknown placeholders) can point at the same paragraph.
    """
    document, name = _open_letter(template, name)
    for part in _story_parts(document):
        root = part.element
        numbers = {p: i for i, p in enumerate(root.iter(_P), 1)}
        for paragraph in _PARAGRAPHS_WITH_BRACE(root):
            source = "".join(_run_text(run) for run in _PARAGRAPH_RUNS(paragraph))
            if "{{" in source or "{%" in source or "{#" in source:
                yield _story_name(name, part), numbers[paragraph], source


def _open_letter(template: Path | bytes, name: str | None) -> tuple[Any, str]:
    if isinstance(template, (bytes, bytearray)):
        return docx.Document(BytesIO(template)), name or "letter.docx"
    path = Path(template)
    return docx.Document(str(path)), name or path.name


def _story_name(name: str, part: Any) -> str:
    story = Path(str(part.partname)).stem
    return name if story == "document" else f"{name} ({story})"


def docx_text(data: bytes) -> str:
    """All paragraph text of a .docx body, tables included, one paragraph per line."""
    body = docx.Document(BytesIO(data)).element.body
    return "\n".join(_paragraph_text(p) for p in body.iter(_P))


def _story_parts(document: Any) -> Iterator[Any]:
    """The main document part, then every header and footer part (each once, however many sections share it)."""
    yield document.part
    for rel in document.part.rels.values():
        if not rel.is_external and rel.reltype in (RT.HEADER, RT.FOOTER):
            yield rel.target_part


def _render_paragraph(paragraph: etree._Element, values: dict[str, Any]) -> None:
    runs = []
    texts = []
    for run in _PARAGRAPH_RUNS(paragraph):
        text = _run_text(run)
        if text:
            runs.append(run)
            texts.append(text)
    source = "".join(texts)
    if "{{" not in source and "{%" not in source:
        return
    rendered = []
    for first, last in _placeholder_run_groups(texts, source):
        result = _paragraph_template("".join(texts[first : last + 1])).render(values)
        rendered.append(result)
        _set_run_text(runs[first], result)
        for run in runs[first + 1 : last + 1]:
            _set_run_text(run, "")
    if not "".join(rendered).strip() and not _ANY_TAG.sub("", source).strip():
        _drop_if_allowed(paragraph)


def _placeholder_run_groups(texts: list[str], source: str) -> list[tuple[int, int]]:
    """Ranges of runs (first, last) to render together: each holds whole placeholders.

    Block tags may span anything, so a paragraph with one renders as a single range; so does
    anything the simple ``{{ ... }}`` scan cannot account for, letting Jinja report the problem.
    """
    whole = [(0, len(texts) - 1)]
    if "{%" in source or "{#" in source:
        return whole
    spans = [match.span() for match in _EXPRESSION.finditer(source)]
    if len(spans) != source.count("{{"):
        return whole
    starts = list(accumulate((len(text) for text in texts[:-1]), initial=0))
    groups: list[tuple[int, int]] = []
    for start, end in spans:
        first = bisect_right(starts, start) - 1
        last = bisect_right(starts, end - 1) - 1
        if groups and first <= groups[-1][1]:
            groups[-1] = (groups[-1][0], max(groups[-1][1], last))
        else:
            groups.append((first, last))
    return groups


def _run_text(run: etree._Element) -> str:
    return "".join(_text_of(child) for child in run if _is_text(child))


def _paragraph_text(paragraph: etree._Element) -> str:
    return "".join(_run_text(run) for run in _PARAGRAPH_RUNS(paragraph))


def _is_text(child: etree._Element) -> bool:
    tag = child.tag
    if tag == _BR:
        return child.get(_BR_TYPE) in (None, "textWrapping")
    return tag in (_T, _CR, _TAB, _PTAB, _NO_BREAK_HYPHEN, _SOFT_HYPHEN)


def _text_of(child: etree._Element) -> str:
    tag = child.tag
    if tag == _T:
        return child.text or ""
    if tag in (_BR, _CR):
        return "\n"
    if tag in (_TAB, _PTAB):
        return "\t"
    if tag == _NO_BREAK_HYPHEN:
        return "-"
    return ""


def _set_run_text(run: etree._Element, text: str) -> None:
    """Replace a run's text, leaving its formatting and any non-text content (pictures, page breaks) alone."""
    old = [child for child in run if _is_text(child)]
    position = run.index(old[0]) if old else len(run)
    for child in old:
        run.remove(child)
    text = _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    for piece in _LINE_BREAK_OR_TAB.split(text):
        if not piece:
            continue
        if piece == "\n":
            element = OxmlElement("w:br")
        elif piece == "\t":
            element = OxmlElement("w:tab")
        else:
            element = OxmlElement("w:t")
            element.text = piece
            if piece != piece.strip():
                element.set(_XML_SPACE, "preserve")
        run.insert(position, element)
        position += 1


def _drop_if_allowed(paragraph: etree._Element) -> None:
    # Every container (body, cell, header) must still end with a paragraph, and a paragraph carrying
    # a picture, a field or a section break is kept even when its text is gone.
    if _KEEPS_PARAGRAPH(paragraph):
        return
    if any(sibling.tag == _P for sibling in paragraph.itersiblings()):
        paragraph.getparent().remove(paragraph)
