"""The README and docs/ stay true to the code and to a clone: every link resolves inside the
repository, every setting is documented, every search attribute is explained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.platform.config import PROJECT_ROOT, Settings

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in path.read_text("utf-8").splitlines() if line.startswith("#")}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_links_stay_inside_the_repository_and_resolve(document: Path):
    text = document.read_text("utf-8")
    assert "../shared" not in text, "a clone has no ../shared: restate what users need in docs/"
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        assert resolved.is_relative_to(PROJECT_ROOT), f"{document.name}: {target} leaves the repository"
        assert resolved.exists(), f"{document.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(resolved), f"{document.name}: no heading for #{anchor} in {resolved.name}"


def test_the_configuration_manual_documents_every_setting():
    manual = (PROJECT_ROOT / "docs" / "configuration.md").read_text("utf-8")
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in manual]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_operations_explains_every_search_attribute():
    operations = (PROJECT_ROOT / "docs" / "operations.md").read_text("utf-8")
    missing = [name for name in SEARCH_ATTRIBUTES if f"`{name}`" not in operations]
    assert not missing, f"search attributes missing from docs/operations.md: {missing}"
