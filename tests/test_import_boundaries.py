"""Import boundaries, read from the source (nothing here imports the modules it checks).

1. Workflow code (workflows/**) imports nothing that can do I/O. It may import only:
     - the standard library's pure modules (STDLIB_SAFE),
     - temporalio and pydantic,
     - workflows.* (itself),
     - our pure modules: casework.platform.workflow_runner.PURE_MODULES (casework.cases.contracts,
       .roles, .stages, .search_attributes; casework.calendar's pure modules; casework.kinds.*),
       the very list the sandbox passes through.
   importlib.import_module("...") counts as an import of what its literal part names (the kinds
   registry imports f"workflows.{kind}"); one with no literal module name is refused.
   Our pure modules are held to the same rule (without workflows.*), so nothing with I/O reaches
   workflow code through them either.
2. A kind imports the engine, the calendar and the shared modules, never another kind. The kinds
   are the subpackages of casework/kinds/; a kind's modules are casework/kinds/<kind>/ and, where
   they exist, workflows/<kind>/ (or workflows/<kind>.py), activities/<kind>/ (or .py),
   api/routes/<kind>.py and api/schemas/<kind>.py. All found on disk: a new kind is covered as
   soon as its folder exists.
3. The shared modules and the engine (casework/cases/, casework/calendar/, workflows/engine/)
   import no kind: a kind plugs into them, not the other way round.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from casework.platform.config import PROJECT_ROOT
from casework.platform.workflow_runner import PURE_MODULES

# The standard library workflow code may use: computation only, no clock, file, network, process
# or environment. (datetime and uuid are here for their types; tests/test_workflow_determinism.py
# refuses datetime.now(), uuid4() and the like. importlib is here for the kinds registry: what its
# import_module calls name is held to the same rule as an import statement.)
STDLIB_SAFE = {
    "__future__", "abc", "asyncio", "bisect", "calendar", "collections", "contextlib", "copy",
    "dataclasses", "datetime", "decimal", "enum", "fractions", "functools", "heapq", "itertools",
    "importlib", "json", "math", "numbers", "operator", "re", "statistics", "string", "textwrap",
    "types", "typing", "uuid", "zoneinfo",
}
THIRD_PARTY_SAFE = {"temporalio", "pydantic", "pydantic_core"}
# What a pure module may import besides: `holidays` is the bank-holiday data
# casework.calendar.workdays reads (imported lazily, in the function that needs it).
PURE_MODULE_EXTRAS = {"holidays"}

WORKFLOW_CODE_MAY_IMPORT = STDLIB_SAFE | THIRD_PARTY_SAFE | {"workflows"} | set(PURE_MODULES)
PURE_MODULES_MAY_IMPORT = STDLIB_SAFE | THIRD_PARTY_SAFE | PURE_MODULE_EXTRAS | set(PURE_MODULES)

# Modules in casework/calendar/ that are not pure, and why: workflow code may not import them.
IMPURE_CALENDAR_MODULES = {
    "casework.calendar.schedules": "reads closures from PostgreSQL (psycopg, casework.platform.db)",
}

# What rule 1 is there to keep out, named so a reader sees it is: each must be refused.
MUST_BE_REFUSED = [
    "sqlalchemy", "psycopg", "httpx", "fastapi", "starlette", "smtplib", "aiosmtpd", "socket",
    "requests", "asyncpg", "os", "sys", "time", "random", "subprocess", "pathlib", "logging",
    "activities", "api", "casework.platform.db", "casework.platform.mail",
    "casework.platform.config", "casework.platform", "casework.cases.repository",
    "casework.cases.visibility", "casework.calendar.schedules", "casework.documents",
    "casework.reporting", "worker", "devtools",
]


# --- Reading imports -----------------------------------------------------------------------------

def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = PROJECT_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, at any depth (in functions, in
    `workflow.unsafe.imports_passed_through()` blocks), relative ones resolved. `from X import Y`
    counts as importing X.Y when that is a module of ours, else as importing X."""
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                found.append((node.lineno, candidate if _is_module(candidate) else origin))
        elif isinstance(node, ast.Call) and _is_import_module(node.func):
            found.append((node.lineno, _dynamic_target(node)))
    return found


DYNAMIC = "<an importlib.import_module with no literal module name>"


def _is_import_module(func: ast.expr) -> bool:
    return ((isinstance(func, ast.Attribute) and func.attr == "import_module"
             and isinstance(func.value, ast.Name) and func.value.id == "importlib")
            or (isinstance(func, ast.Name) and func.id == "import_module"))


def _dynamic_target(call: ast.Call) -> str:
    """What importlib.import_module(arg) imports, as far as the source says: the literal text of
    `arg` up to its first placeholder (f"workflows.{kind}" -> workflows), as a module name."""
    arg = call.args[0] if call.args else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        literal = arg.value
    elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        literal = str(arg.values[0].value)
    else:
        return DYNAMIC
    name = literal.rpartition(".")[0] if isinstance(arg, ast.JoinedStr) else literal
    return name if name and not name.startswith(".") else DYNAMIC


def within(name: str, allowed: set[str]) -> bool:
    """`name` is one of `allowed` or inside one of them (a name covers its submodules)."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)


def refused(source: str, module: str, allowed: set[str], *, is_package: bool = False) -> list[str]:
    return [f"{module}:{line} imports {name}"
            for line, name in imports(source, module, is_package=is_package) if not within(name, allowed)]


def _sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (PROJECT_ROOT / folder).rglob("*.py"))


def _check(path: Path, allowed: set[str]) -> list[str]:
    return refused(path.read_text(), module_name(path), allowed, is_package=path.name == "__init__.py")


# --- 1. Workflow code and the pure modules it uses ------------------------------------------------

def _pure_module_files() -> list[Path]:
    files: list[Path] = []
    for name in PURE_MODULES:
        path = PROJECT_ROOT.joinpath(*name.split("."))
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return files


def _ids(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT))


@pytest.mark.parametrize("path", _sources("workflows"), ids=_ids)
def test_workflow_code_imports_nothing_with_io(path: Path):
    assert _check(path, WORKFLOW_CODE_MAY_IMPORT) == []


@pytest.mark.parametrize("path", _pure_module_files(), ids=_ids)
def test_the_pure_modules_import_only_pure_modules(path: Path):
    assert path.is_file(), f"{path} is in PURE_MODULES but not on disk"
    assert _check(path, PURE_MODULES_MAY_IMPORT) == []


def test_every_calendar_module_is_pure_or_named_impure():
    """casework.calendar holds both: a new module there is passed through to workflow code only
    once it is listed in PURE_MODULES (after this test's rule 1 has read it)."""
    for path in _sources("casework/calendar"):
        name = module_name(path)
        if name != "casework.calendar":
            assert within(name, set(PURE_MODULES)) or name in IMPURE_CALENDAR_MODULES, name
    assert not set(IMPURE_CALENDAR_MODULES) & set(PURE_MODULES)


@pytest.mark.parametrize("name", MUST_BE_REFUSED)
@pytest.mark.parametrize("form", ["import {name}", "from {name} import something"])
def test_workflow_code_may_not_import(name: str, form: str):
    source = form.format(name=name)
    assert refused(source, "workflows.complaint.synthetic", WORKFLOW_CODE_MAY_IMPORT), source


@pytest.mark.parametrize("source", [
    "from casework.cases import repository",  # a module named in a from-import
    "from casework.cases import visibility as v",
    "from temporalio import workflow\nwith workflow.unsafe.imports_passed_through():\n    import httpx",
    "def f():\n    import sqlalchemy",  # lazily, in a function
    "import importlib\nimportlib.import_module('casework.platform.db')",
    "import importlib\nimportlib.import_module(f'activities.{kind}')",
    "import importlib\nimportlib.import_module(name)",  # names nothing: refused
    "from importlib import import_module\nimport_module(f'{package}.rules')",
])
def test_workflow_code_may_not_import_however_written(source: str):
    assert refused(source, "workflows.complaint.synthetic", WORKFLOW_CODE_MAY_IMPORT), source


@pytest.mark.parametrize("source", [
    "from casework.cases import contracts, stages",
    "from casework.cases.contracts import CaseState",
    "from casework.kinds.complaint.rules import Action",
    "from casework.calendar.deadlines import start_of_day",
    "from temporalio import workflow\nfrom temporalio.common import RetryPolicy",
    "from pydantic import BaseModel",
    "from workflows.engine import CaseWorkflow",
    "from . import correspondence",  # workflows.complaint.correspondence
    "import asyncio, json\nfrom datetime import datetime",
    "import importlib\nimportlib.import_module(f'workflows.{kind}')",
    "import importlib\nimportlib.import_module(f'casework.kinds.{kind}.contracts')",
])
def test_workflow_code_may_import(source: str):
    assert refused(source, "workflows.complaint.synthetic", WORKFLOW_CODE_MAY_IMPORT) == [], source


# --- 2. and 3. Kinds ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    name: str

    @property
    def packages(self) -> set[str]:
        """The module names that are this kind's (each covering its submodules)."""
        return {f"casework.kinds.{self.name}", f"workflows.{self.name}", f"activities.{self.name}",
                f"api.routes.{self.name}", f"api.schemas.{self.name}"}

    def files(self) -> list[Path]:
        found: list[Path] = []
        for package in sorted(self.packages):
            path = PROJECT_ROOT.joinpath(*package.split("."))
            found += sorted(path.rglob("*.py")) if path.is_dir() else []
            found += [path.with_suffix(".py")] if path.with_suffix(".py").is_file() else []
        return found


def discover_kinds(root: Path = PROJECT_ROOT) -> list[Kind]:
    kinds_dir = root / "casework" / "kinds"
    return [Kind(path.name) for path in sorted(kinds_dir.iterdir()) if (path / "__init__.py").is_file()]


KINDS = discover_kinds()
SHARED_AND_ENGINE = ["casework/cases", "casework/calendar", "workflows/engine"]


def other_kinds(source: str, module: str, kind: Kind | None, kinds: list[Kind], *,
                is_package: bool = False) -> list[str]:
    """Imports in `source` (a module of `kind`, or of no kind if None) of another kind's modules."""
    others = set().union(*(other.packages for other in kinds if other != kind))
    return [f"{module}:{line} imports {name}, another kind's"
            for line, name in imports(source, module, is_package=is_package) if within(name, others)]


def test_the_kinds_are_found_on_disk():
    assert Kind("complaint") in KINDS
    assert any(path.parts[-2:] == ("complaint", "rules.py") for path in Kind("complaint").files())
    # Today workflows/complaint.py; once split, workflows/complaint/: either is the kind's.
    assert any(path.parts[-2:] in {("workflows", "complaint.py"), ("complaint", "__init__.py")}
               and "workflows" in path.parts for path in Kind("complaint").files())


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_kind_imports_no_other_kind(kind: Kind):
    problems = [problem for path in kind.files()
                for problem in other_kinds(path.read_text(), module_name(path), kind, KINDS,
                                           is_package=path.name == "__init__.py")]
    assert problems == []


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_kinds_rules_are_pure(kind: Kind):
    """casework/kinds/<kind>/ is passed through to workflow code (PURE_MODULES): rule 1 holds it."""
    assert within(f"casework.kinds.{kind.name}", set(PURE_MODULES))


@pytest.mark.parametrize("folder", SHARED_AND_ENGINE)
def test_the_engine_and_shared_modules_import_no_kind(folder: str):
    problems = [problem for path in _sources(folder) if (PROJECT_ROOT / folder).exists()
                for problem in other_kinds(path.read_text(), module_name(path), None, KINDS,
                                           is_package=path.name == "__init__.py")]
    assert problems == []


SYNTHETIC_KINDS = [Kind("complaint"), Kind("lead_complaint")]


@pytest.mark.parametrize("kind, module, source", [
    ("lead_complaint", "casework.kinds.lead_complaint.rules", "from casework.kinds.complaint.rules import PLAN"),
    ("lead_complaint", "casework.kinds.lead_complaint.rules", "from casework.kinds.complaint import rules"),
    ("lead_complaint", "casework.kinds.lead_complaint.rules", "from ..complaint import rules"),
    ("lead_complaint", "workflows.lead_complaint.workflow", "from workflows.complaint import ComplaintCaseWorkflow"),
    ("lead_complaint", "workflows.lead_complaint.workflow", "import workflows.complaint.deadlines"),
    ("complaint", "workflows.complaint.workflow", "from workflows.lead_complaint.workflow import LeadWorkflow"),
    ("lead_complaint", "api.routes.lead_complaint", "from api.routes.complaint import router"),
    ("lead_complaint", "api.routes.lead_complaint", "from api.schemas.complaint import CaseOut"),
    ("lead_complaint", "activities.lead_complaint.letters", "from activities.complaint import letters"),
])
def test_a_kind_importing_another_kind_is_refused(kind: str, module: str, source: str):
    assert other_kinds(source, module, Kind(kind), SYNTHETIC_KINDS), (module, source)


@pytest.mark.parametrize("module, source", [
    ("casework.kinds.lead_complaint.rules", "from casework.cases.stages import StagePlan"),
    ("casework.kinds.lead_complaint.rules", "from casework.calendar.policies import DeadlinePolicy"),
    ("casework.kinds.lead_complaint.rules", "from . import payloads"),
    ("workflows.lead_complaint.workflow", "from workflows.engine import CaseWorkflow"),
    ("workflows.lead_complaint.workflow", "from casework.kinds.lead_complaint.rules import PLAN"),
])
def test_a_kind_importing_the_engine_and_shared_modules_is_fine(module: str, source: str):
    kind = Kind("lead_complaint")
    assert other_kinds(source, module, kind, SYNTHETIC_KINDS) == [], (module, source)


def test_the_engine_importing_a_kind_is_refused():
    assert other_kinds("from workflows.complaint import ComplaintCaseWorkflow", "workflows.engine.base",
                       None, SYNTHETIC_KINDS)
    assert other_kinds("from casework.kinds.complaint.rules import PLAN", "casework.cases.stages",
                       None, SYNTHETIC_KINDS)


def test_kinds_are_discovered_from_the_folders(tmp_path: Path):
    for name in ("complaint", "lead_complaint"):
        (tmp_path / "casework" / "kinds" / name).mkdir(parents=True)
        (tmp_path / "casework" / "kinds" / name / "__init__.py").write_text("")
    (tmp_path / "casework" / "kinds" / "__pycache__").mkdir()
    assert discover_kinds(tmp_path) == [Kind("complaint"), Kind("lead_complaint")]
