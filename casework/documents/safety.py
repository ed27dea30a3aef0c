"""The one check of every file the system reads from outside: an archive's unpacked size, its
member count and compression ratios are bounded before python-docx, the PDF layout or the template
checks open it (a 66 KiB .docx whose document.xml unpacked to 20 MiB took the API from 214 to 660
MiB); a file's content must be what its name says (magic bytes, not only the extension); a file's
name loses any path and control characters.

Python's zipfile never hands out more than a member's declared size, so bounding the declared sizes
bounds what any reader of the archive can unpack.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from io import BytesIO

# Limits of a .docx, .odt or other zip package: far above any letter (the shipped templates unpack
# to well under 1 MiB), far below what hurts a worker.
MAX_UNPACKED_BYTES = 50 * 1024 * 1024  # every member together
MAX_MEMBERS = 2000
MAX_RATIO = 100  # unpacked / packed, for a member over RATIO_FLOOR unpacked
RATIO_FLOOR = 1024 * 1024  # small members (styles, a blank page) may compress as well as they like

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG"
JPEG_MAGIC = b"\xff\xd8\xff"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old .doc
ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
# What each extension's content must be, in a refusal's words.
KINDS = {".docx": "a Word document (OOXML)", ".odt": "an OpenDocument text", ".pdf": "a PDF",
         ".png": "a PNG image", ".jpg": "a JPEG image", ".jpeg": "a JPEG image", ".doc": "a Word 97 document",
         ".txt": "plain text", ".eml": "an email message (RFC 822)"}
_HEADER = re.compile(rb"^[!-9;-~]+:")  # an RFC 822 header field name and its colon


class UnsafeFile(ValueError):
    """A file refused before anything parses it; the message says why, for a 422."""


class NotAnArchive(UnsafeFile):
    """Not a readable zip at all: nothing to unpack, so a reader may report it in its own words."""


def check_archive(content: bytes) -> None:
    """Refuse a zip package that unpacks too large, has too many members or compresses too well."""
    try:
        with zipfile.ZipFile(BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise NotAnArchive(f"not a readable zip package: {exc}") from exc
    if len(members) > MAX_MEMBERS:
        raise UnsafeFile(f"the package has {len(members)} parts; at most {MAX_MEMBERS} are accepted")
    total = 0
    for member in members:
        total += member.file_size
        if total > MAX_UNPACKED_BYTES:
            raise UnsafeFile(f"the package unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MiB")
        if member.file_size > RATIO_FLOOR and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise UnsafeFile(f"{member.filename} compresses {member.file_size // max(member.compress_size, 1)}"
                             f" to 1, more than {MAX_RATIO} to 1: refused as a possible zip bomb")


def _zip_kind(content: bytes) -> str | None:
    check_archive(content)
    with zipfile.ZipFile(BytesIO(content)) as archive:
        names = set(archive.namelist())
        if "mimetype" in names and archive.read("mimetype").strip() == ODT_MIMETYPE:
            return ".odt"
        if "[Content_Types].xml" in names:
            return ".docx"
    return None


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        try:
            content.decode("cp1252")
        except UnicodeDecodeError:
            return False
    return True


def _is_message(content: bytes) -> bool:
    first = content.lstrip(b"\r\n").split(b"\n", 1)[0]
    return _is_text(content) and bool(_HEADER.match(first))


def check_content(suffix: str, content: bytes) -> None:
    """Refuse a file whose bytes are not what its extension says (and an unsafe package)."""
    head = content[:16]
    if head.startswith(ZIP_MAGIC):
        found = _zip_kind(content)  # checks the archive's limits first
        if suffix in (".docx", ".odt") and found == suffix:
            return
    elif suffix == ".pdf" and head.startswith(PDF_MAGIC):
        return
    elif suffix == ".png" and head.startswith(PNG_MAGIC):
        return
    elif suffix in (".jpg", ".jpeg") and head.startswith(JPEG_MAGIC):
        return
    elif suffix == ".doc" and head.startswith(OLE_MAGIC):
        return
    elif suffix == ".eml" and _is_message(content):
        return
    elif suffix == ".txt" and not head.startswith((PDF_MAGIC, PNG_MAGIC, JPEG_MAGIC, OLE_MAGIC)) \
            and _is_text(content):
        return
    raise UnsafeFile(f"not a readable {suffix} file: its content is not {KINDS.get(suffix, suffix)}")


def safe_filename(name: str) -> str:
    """The last part of a path sent as a filename, whichever separator it used (so `..\\..\\x.docx`
    is `x.docx`), without control or invisible formatting characters; empty if nothing is left."""
    name = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    return "" if name in (".", "..") else name[:255]
