"""Reference lists an administrator maintains: the complaint types, resolutions, reasons and the
like a case picks from. Each list is declared once by the code that uses it (`declare_list`), its
values are rows an administrator adds, renames and retires through the API.

- A value is (list, code): the code is what cases store and never changes; the label is what
  people see and may be renamed without touching a case.
- A retired value stays on the cases that have it and is no longer offered or accepted.
- A list may hang under another (resolutions under resolution types): each value then names its
  parent's code, and `require_value(..., parent=...)` accepts only a value of that parent.
"""

from casework.reference_lists.registry import ListSpec, declare_list, declared_lists, list_spec
from casework.reference_lists.service import ListValueError, active_values, require_value

__all__ = ["ListSpec", "ListValueError", "active_values", "declare_list", "declared_lists", "list_spec",
           "require_value"]
