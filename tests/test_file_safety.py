"""Issue 18: files from outside. A zip bomb is refused before anything unpacks it, wherever a .docx
is read (an attachment, a draft, a letter template); a file must be what its name says; a filename
keeps no path; an upload not yet attached is only its uploader's to read or attach."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

from casework.documents import safety
from tests.casefixtures import DOCX, auth, case_path, complaint, register, step, uk_today, walk_to_draft

UNPACKED = 40 * 1024 * 1024


def zip_bomb_docx() -> bytes:
    """A small .docx whose document.xml unpacks to 40 MiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w") as member:
            member.write(b'<?xml version="1.0"?><w:document xmlns:w="urn:w"><w:body>')
            chunk = b" " * (1024 * 1024)
            for _ in range(UNPACKED // len(chunk)):
                member.write(chunk)
            member.write(b"</w:body></w:document>")
    return buffer.getvalue()


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def refused_file(response) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"][-1] == "file"
    return detail["msg"]


async def test_a_zip_bomb_is_refused_everywhere_a_docx_is_read(api):
    bomb = zip_bomb_docx()
    assert len(bomb) < 200 * 1024
    case = await walk_to_draft(api)
    ref = case["reference"]
    before = rss_bytes()
    for _ in range(3):
        as_draft = await api.post(f"{case_path(ref)}/documents", data={"kind": "draft"},
                                  files={"file": ("response.docx", bomb, DOCX)}, headers=auth("drafter"))
        assert "zip bomb" in refused_file(as_draft) or "unpacks" in refused_file(as_draft)
        as_upload = await api.post("/uploads", files={"file": ("evidence.docx", bomb, DOCX)},
                                   headers=auth("handler"))
        refused_file(as_upload)
        as_template = await api.post("/admin/templates/acknowledgement/letter",
                                     files={"file": ("ack.docx", bomb, DOCX)}, headers=auth("admin"))
        refused_file(as_template)
    # Nothing unpacked the 40 MiB: the API's memory barely moved.
    assert rss_bytes() - before < 30 * 1024 * 1024
    # The case walks on with a real draft.
    await step(api, ref, "submit-draft", "drafter", expect=422)


def test_the_checker_bounds_members_size_and_ratio():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for n in range(safety.MAX_MEMBERS + 1):
            archive.writestr(f"part{n}.xml", b"")
    try:
        safety.check_archive(buffer.getvalue())
    except safety.UnsafeFile as exc:
        assert "parts" in str(exc)
    else:
        raise AssertionError("too many members accepted")
    try:
        safety.check_archive(zip_bomb_docx())
    except safety.UnsafeFile as exc:
        assert "zip bomb" in str(exc)
    else:
        raise AssertionError("a zip bomb accepted")


async def test_content_must_match_the_extension(api):
    pdf_bytes = b"%PDF-1.4 statement"
    for filename, content in (
        ("statement.pdf", b"just some text"),
        ("photo.png", b"\xff\xd8\xff\xe0 a jpeg"),
        ("photo.jpg", b"\x89PNG\r\n\x1a\n a png"),
        ("letter.docx", pdf_bytes),
        ("letter.odt", b"PK\x03\x04 not a zip"),
        ("notes.txt", b"\x00\x01\x02 binary"),
        ("mail.eml", b"no headers here, just words"),
    ):
        response = await api.post("/uploads", files={"file": (filename, content, "application/octet-stream")},
                                  headers=auth("handler"))
        assert "not a readable" in refused_file(response), filename
    for filename, content in (("statement.pdf", pdf_bytes), ("mail.eml", b"From: a@example.net\r\n\r\nHi"),
                              ("photo.jpg", b"\xff\xd8\xff\xe0 a jpeg"), ("notes.txt", "caf\u00e9".encode())):
        response = await api.post("/uploads", files={"file": (filename, content, "application/octet-stream")},
                                  headers=auth("handler"))
        assert response.status_code == 201, (filename, response.text)


async def test_a_filename_keeps_no_path(api):
    from tests.casefixtures import docx_bytes

    # (httpx escapes control characters in a multipart filename; the checker's own test covers them.)
    assert safety.safe_filename("..\\..\\x\x07\u202e.docx") == "x.docx"
    for sent in ("..\\..\\x.docx", "../../x.docx", "C:\\Users\\me\\x.docx"):
        response = await api.post("/uploads", files={"file": (sent, docx_bytes("hello"), DOCX)},
                                  headers=auth("handler"))
        assert response.status_code == 201, response.text
        assert response.json()["filename"] == "x.docx", sent
    response = await api.post("/uploads", files={"file": ("..\\..", b"hello", "text/plain")},
                              headers=auth("handler"))
    assert response.status_code == 422


async def test_an_unattached_upload_is_only_its_uploaders(api):
    response = await api.post("/uploads", files={"file": ("mine.txt", b"private", "text/plain")},
                              headers=auth("handler"))
    assert response.status_code == 201
    upload_id = response.json()["upload_id"]
    # Nobody else reads it, not even someone who may see every case…
    for other in ("coordinator", "drafter", "manager"):
        assert (await api.get(f"/documents/{upload_id}", headers=auth(other))).status_code == 404, other
    # …or attaches it, to a new case or to a reply.
    # Refused as a missing upload is, naming the field.
    response = await api.post("/cases", json=complaint(attachment_ids=[upload_id]), headers=auth("coordinator"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "attachment_ids"]
    missing = await api.post("/cases", json=complaint(attachment_ids=["no-such-upload"]), headers=auth("coordinator"))
    assert missing.status_code == 422 and missing.json()["detail"][0]["msg"].replace("no-such-upload", upload_id) \
        == response.json()["detail"][0]["msg"]
    case = await walk_to_draft(api)
    ref = case["reference"]
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "email", "questions": "Which account?",
                       "reply_by": (uk_today() + timedelta(days=5)).isoformat()})
    reply = f"clarifications/{case['clarifications'][0]['id']}/reply"
    response = await api.post(f"{case_path(ref)}/{reply}", json={"reply": "x", "attachment_ids": [upload_id]},
                              headers=auth("drafter"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "attachment_ids"]
    # The uploader reads it and attaches it.
    download = await api.get(f"/documents/{upload_id}", headers=auth("handler"))
    assert download.status_code == 200 and download.content == b"private"
    mine = await register(api, attachment_ids=[upload_id])
    assert upload_id in [d["id"] for d in mine["documents"]]
