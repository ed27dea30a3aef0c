"""Where each child collection of a case state lives in PostgreSQL, and the order a case read lists
it in: the engine's own (correspondents, documents, notes, tasks, parties) and each kind's.

A kind declares its collections in `casework/tables/<kind>.py`, which calls
`register_collections`; the projection writes them and the case read lists them, without either
naming a kind. Collection names are unique across kinds.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from sqlalchemy import Table

from casework.parties.models import CaseParty
from casework.platform.db import CaseCorrespondent, CaseDocument, CaseNote, CaseTask, table_of


@dataclass(frozen=True)
class Collection:
    table: Table
    order_by: str  # the column a case read lists the collection by (then its id)


_COLLECTIONS: dict[str, Collection] = {
    "correspondents": Collection(table_of(CaseCorrespondent), "is_primary DESC"),
    "documents": Collection(table_of(CaseDocument), "added_at"),
    "notes": Collection(table_of(CaseNote), "created_at"),
    "tasks": Collection(table_of(CaseTask), "created_at"),
    "parties": Collection(table_of(CaseParty), "party_type"),
}
_LOADED: set[str] = set()


def register_collections(kind: str, collections: dict[str, Collection]) -> None:
    """A kind's child collections: the table each is projected to and how a read orders it."""
    clash = (set(collections) & set(_COLLECTIONS)) - {n for n, c in collections.items() if _COLLECTIONS.get(n) == c}
    if clash:
        raise ValueError(f"{kind}: collections {sorted(clash)} are already another kind's (or the engine's)")
    _COLLECTIONS.update(collections)
    _LOADED.add(kind)


def load_kind(kind: str) -> None:
    """Register `kind`'s collections (its `casework.tables.<kind>` module), once."""
    if kind not in _LOADED:
        importlib.import_module(f"casework.tables.{kind}")
        _LOADED.add(kind)


def collection(name: str) -> Collection:
    """The table and order of a collection (its kind loaded first: `load_kind`)."""
    return _COLLECTIONS[name]
