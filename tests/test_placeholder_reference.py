"""The placeholder reference people read is the one uploads are checked against.

docs/letters-and-templates.md carries a section generated from template_library.PURPOSES; if a
placeholder is added, renamed or re-described in code, this fails until the section is rewritten
with `python -m casework.documents.placeholders`.
"""

from __future__ import annotations

import pytest

from casework.documents import placeholders, template_library


def test_the_documented_placeholder_reference_is_the_one_in_code():
    document = placeholders.DOC.read_text("utf-8")
    assert document == placeholders.with_reference(document), (
        "docs/letters-and-templates.md is out of date: run python -m casework.documents.placeholders")


def test_the_reference_names_every_purpose_and_placeholder():
    reference = placeholders.reference_markdown()
    for purpose in template_library.PURPOSES:
        assert f"`{purpose}`" in reference, purpose
        for name in template_library.placeholder_names(purpose):
            assert f"`{name}`" in reference, f"{purpose}: {name}"


def test_a_document_without_the_markers_is_refused_rather_than_appended_to():
    with pytest.raises(ValueError, match="markers"):
        placeholders.with_reference("# Letters\n\nNo reference here.\n")


def test_check_reports_a_stale_section_and_rewriting_fixes_it(tmp_path, capsys):
    doc = tmp_path / "letters.md"
    doc.write_text(f"# Letters\n\n{placeholders.BEGIN}\n\n| stale |\n\n{placeholders.END}\n\nAfter.\n")

    assert placeholders.main(["--check", "--doc", str(doc)]) == 1
    assert placeholders.main(["--doc", str(doc)]) == 0
    assert placeholders.main(["--check", "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "| stale |" not in text and "`case.reference`" in text and text.endswith("\nAfter.\n")
