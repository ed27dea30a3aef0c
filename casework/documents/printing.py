"""Which renderer prints letters to PDF: LibreOffice when it is installed, else our own.

LibreOffice (``soffice --headless --convert-to pdf``) lays a .docx out as Word would: fonts,
pictures, text boxes, fields, every table. It is what the container image uses. The built-in
renderer (casework.documents.pdf) needs nothing but wheels and prints the text and its simple
formatting; it is the fallback for `make run` on a bare machine. ``PDF_RENDERER`` chooses:

- ``auto`` (default): LibreOffice if ``LIBREOFFICE_PATH`` or ``soffice``/``libreoffice`` on the
  PATH is found, otherwise built-in; a conversion LibreOffice fails is printed built-in instead
  (logged as a warning);
- ``libreoffice``: LibreOffice or nothing: start-up refuses without it, and a failed conversion
  raises OfficeError (the letter's activity retries it; a preview answers 503);
- ``builtin``: never LibreOffice.

Each conversion runs its own ``soffice`` process with its own throwaway profile
(``-env:UserInstallation``), so conversions in parallel threads or workers never share one,
under ``LIBREOFFICE_TIMEOUT_SECONDS``. A document is checked as before (casework.documents.safety's
limits, a readable main part) before LibreOffice sees it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Literal

import pypdf

from casework.documents import pdf
from casework.platform.config import Settings

log = logging.getLogger("casework.printing")

PdfRendererName = Literal["auto", "libreoffice", "builtin"]
_SUFFIXES = {pdf.DOCX: ".docx", pdf.ODT: ".odt"}


class OfficeError(RuntimeError):
    """LibreOffice did not convert (missing, timed out, crashed, wrote no PDF): not the document's
    fault, so worth trying again, unlike casework.documents.pdf.PdfError."""


def find_soffice(configured: str = "") -> str | None:
    """The LibreOffice binary: the configured path (which must exist), else soffice or libreoffice
    on the PATH, else None."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise OfficeError(f"LIBREOFFICE_PATH={configured} is not an executable")
        return found
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(documents: list[tuple[str, bytes]], *, soffice: str, timeout: float) -> list[bytes]:
    """PDFs of `documents` ((file name with its .docx/.odt suffix, content) each), in one soffice
    run with a profile of its own. OfficeError if it does not finish in `timeout` seconds or leaves
    any PDF unwritten."""
    with tempfile.TemporaryDirectory(prefix="casework-soffice-") as tmp:
        work = Path(tmp)
        inputs = []
        for i, (name, content) in enumerate(documents):
            path = work / "in" / f"{i:04d}-{Path(name).name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(content)
            inputs.append(path)
        out = work / "out"
        command = [soffice, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--invisible",
                   "--nologo", "--nodefault", "--norestore", "--nolockcheck",
                   "--convert-to", "pdf:writer_pdf_Export", "--outdir", str(out), *map(str, inputs)]
        # Its own session, so a timeout ends soffice.bin too; HOME in the scratch directory, as
        # some of its parts write there whatever the profile says.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, "HOME": tmp})
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise OfficeError(f"LibreOffice did not convert {len(documents)} document(s) "
                              f"within {timeout:g} s") from exc
        results = []
        for path in inputs:
            printed = out / f"{path.stem}.pdf"
            if not printed.is_file() or printed.stat().st_size == 0:
                said = output.decode(errors="replace").strip()[-500:]
                raise OfficeError(f"LibreOffice wrote no PDF for {path.name[5:]} "
                                  f"(exit {process.returncode}): {said or 'no output'}")
            results.append(printed.read_bytes())
        return results


def _titled(content: bytes, title: str, subject: str) -> bytes:
    """The PDF with our title and subject, as the built-in renderer sets them."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(BytesIO(content)))
    writer.add_metadata({"/Title": title, "/Subject": subject})
    buffer = BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Printer:
    """Prints response documents and letters with the renderer the settings chose."""
    soffice: str | None  # None: the built-in renderer
    timeout: float = 60.0
    fall_back: bool = True  # on a failed conversion, print built-in (PDF_RENDERER=auto)

    @property
    def renderer(self) -> str:
        return "libreoffice" if self.soffice else "builtin"

    def describe(self) -> str:
        return f"LibreOffice ({self.soffice})" if self.soffice else "the built-in renderer"

    def letter_pdf(self, content: bytes, *, title: str = "Letter", subject: str = "") -> bytes:
        """A .docx letter as a print-ready PDF."""
        return self.document_pdf(content, pdf.DOCX, title=title, subject=subject)

    def document_pdf(self, content: bytes, content_type: str, *, title: str = "Letter", subject: str = "") -> bytes:
        """A response document (.docx, .odt or .pdf) as a print-ready PDF; PdfError for one that
        cannot be printed (checked the same way whichever renderer prints it)."""
        if self.soffice is None or content_type not in _SUFFIXES:
            return pdf.document_pdf(content, content_type, title=title, subject=subject)
        pdf.check_printable(content, content_type)
        try:
            [printed] = convert_to_pdf([(f"document{_SUFFIXES[content_type]}", content)],
                                       soffice=self.soffice, timeout=self.timeout)
        except OfficeError as exc:
            if not self.fall_back:
                raise
            log.warning("%s; printing %r with the built-in renderer instead", exc, title)
            return pdf.document_pdf(content, content_type, title=title, subject=subject)
        return _titled(printed, title, subject)


@lru_cache
def choose_printer(renderer: PdfRendererName, libreoffice_path: str = "", timeout: float = 60.0) -> Printer:
    """The Printer for the PDF_RENDERER, LIBREOFFICE_PATH and LIBREOFFICE_TIMEOUT_SECONDS settings.
    OfficeError when LibreOffice is required and not found."""
    if renderer == "builtin":
        return Printer(None, timeout)
    soffice = find_soffice(libreoffice_path)
    if soffice is None and renderer == "libreoffice":
        raise OfficeError("PDF_RENDERER=libreoffice, and neither LIBREOFFICE_PATH nor soffice/libreoffice "
                          "on the PATH names a LibreOffice")
    return Printer(soffice, timeout, fall_back=renderer == "auto")


def printer_for(settings: Settings) -> Printer:
    return choose_printer(settings.pdf_renderer, settings.libreoffice_path, settings.libreoffice_timeout_seconds)
