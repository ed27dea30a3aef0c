"""Letters to PDF by LibreOffice and by the built-in renderer (casework.documents.printing).

Every shipped letter template, rendered with its purpose's sample data, is printed both ways and
must carry the same words on the same pages. All of them go through one soffice run (LibreOffice
takes seconds to start). `.ci/run` installs LibreOffice, so CI always compares; on a machine
without it that one test is skipped, saying so. The rest needs no LibreOffice: a stand-in
`soffice` that hangs or writes nothing shows what a timeout or a failed conversion does.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from io import BytesIO
from pathlib import Path

import pypdf
import pytest

from casework.documents import pdf, printing, template_library
from casework.documents.rendering import render_letter
from casework.platform.config import PROJECT_ROOT, Settings

LETTERS = sorted((PROJECT_ROOT / "templates" / "letters").glob("*.docx"))
SOFFICE = printing.find_soffice()


def _pages(content: bytes) -> list[Counter[str]]:
    """The words of each page (the two renderers extract a page's header, body and footer in
    different orders, and break lines in different places)."""
    return [Counter((page.extract_text() or "").split()) for page in pypdf.PdfReader(BytesIO(content)).pages]


def _rendered(template: Path) -> bytes:
    return render_letter(template, template_library.sample_context(template.stem))


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (no soffice or libreoffice on the "
                                            "PATH): apt-get install libreoffice-writer-nogui, as .ci/run does")
def test_libreoffice_prints_every_shipped_letter_with_the_words_the_builtin_renderer_prints():
    assert SOFFICE is not None and len(LETTERS) >= 6
    letters = [(path.name, _rendered(path)) for path in LETTERS]
    by_libreoffice = printing.convert_to_pdf(letters, soffice=SOFFICE, timeout=180)
    for (name, letter), printed in zip(letters, by_libreoffice, strict=True):
        builtin = _pages(pdf.letter_pdf(letter))
        assert _pages(printed) == builtin, name
        assert "COMP/000123/26" in sum(builtin, Counter()), name  # the sample case's reference, printed
    # The Printer gives LibreOffice's PDF the title and subject the built-in renderer sets.
    metadata = pypdf.PdfReader(BytesIO(printing._titled(by_libreoffice[0], "Acknowledgement", "COMP/1"))).metadata
    assert metadata is not None and (metadata.title, metadata.subject) == ("Acknowledgement", "COMP/1")


def test_the_setting_chooses_the_renderer():
    assert printing.choose_printer("builtin").renderer == "builtin"
    auto = printing.choose_printer("auto")
    assert auto.renderer == ("libreoffice" if SOFFICE else "builtin") and auto.fall_back
    with pytest.raises(printing.OfficeError, match="LIBREOFFICE_PATH=/nowhere/soffice"):
        printing.choose_printer("libreoffice", "/nowhere/soffice")
    settings = Settings(pdf_renderer="builtin", libreoffice_timeout_seconds=5)
    assert printing.printer_for(settings) == printing.Printer(None, 5)


def _stand_in(tmp_path: Path, script: str) -> str:
    path = tmp_path / "soffice"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_conversion_that_hangs_is_ended_at_the_timeout(tmp_path: Path):
    pid_file = tmp_path / "pid"
    hangs = _stand_in(tmp_path, f"echo $$ > {pid_file}; exec sleep 60")
    with pytest.raises(printing.OfficeError, match="did not convert 1 document"):
        printing.convert_to_pdf([("letter.docx", b"PK")], soffice=hangs, timeout=0.5)
    with pytest.raises(ProcessLookupError):  # killed, not left running
        os.kill(int(pid_file.read_text()), 0)


def test_a_failed_conversion_falls_back_to_the_builtin_renderer_only_when_auto(tmp_path: Path):
    writes_nothing = _stand_in(tmp_path, "echo 'Error: source file could not be loaded'")
    letter = _rendered(LETTERS[0])
    printed = printing.Printer(writes_nothing, 10, fall_back=True).letter_pdf(letter, title="Acknowledgement",
                                                                              subject="COMP/000123/26")
    assert _pages(printed) == _pages(pdf.letter_pdf(letter))
    with pytest.raises(printing.OfficeError, match="could not be loaded"):
        printing.Printer(writes_nothing, 10, fall_back=False).letter_pdf(letter)
    # A document that cannot be printed is refused as before, before LibreOffice is asked.
    with pytest.raises(pdf.PdfError, match="not a readable .docx"):
        printing.Printer(writes_nothing, 10, fall_back=False).letter_pdf(b"not a docx")


async def test_health_says_which_renderer_prints_letters(api):
    assert (await api.get("/health")).json()["pdf_renderer"] == "builtin"  # the suite's setting
