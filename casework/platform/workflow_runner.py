"""A workflow runner that lets a cached case hold only its own state, not the SDK's last messages.

The Python SDK (temporalio 1.35) parses each activation with upb protobuf, where every sub-message
shares its parent's memory. A workflow instance keeps, between activations, a few such
sub-messages: the headers and memo of the start (so the whole first activation, start input
included), the last activation's internal flags (so that whole activation) and the last
completion (with every command's payloads, e.g. the state a projection step wrote). A worker
holding 5,000 idle cases holds all of it for each. Measured with the memory scenario, it is about
17 KiB a case (see docs/performance.md).

`LeanWorkflowRunner` wraps the SDK's runner: it gives each instance copies of the start's headers,
memo and last result (copies own their memory), and, unsandboxed, drops the instance's references
to the activation and completion once an activation is done; the worker has sent the completion by
the next one. It reaches into SDK internals, so it checks for each attribute and leaves the
instance alone where one is missing; tests/test_replay.py replays every recorded history through
it and checks that it took effect.

`build_workflow_runner` is the one place a runner is made from the settings (WORKFLOW_RUNNER, see
casework.platform.config): the worker, the tests and the benchmarks call it. `compile_workflow_sources`
writes the bytecode the sandbox reads each time it imports a workflow module afresh.
"""

from __future__ import annotations

import compileall
import dataclasses
import logging
import sys
from collections.abc import Iterable
from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import (
    UnsandboxedWorkflowRunner,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker._workflow_instance import _WorkflowInstanceImpl
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from casework.platform.config import Settings, WorkflowRunnerName

# Our modules the sandbox may hand to workflow code as they are loaded outside it, instead of
# re-importing them for every run: payloads and rules only, with no I/O, clock or randomness,
# at import or after. Third-party libraries pass through as the SDK's defaults say (the standard
# library, temporalio, pydantic). Workflow modules (`workflows`) never do: the sandbox re-imports
# and checks them. A name covers its submodules. tests/test_import_boundaries.py holds every
# module listed here to importing only such modules, and workflow code to importing nothing else.
# casework.calendar.schedules is not one of them: it reads closures from PostgreSQL.
PURE_MODULES = (
    "casework.cases.contracts",
    "casework.cases.jobs",
    "casework.cases.roles",
    "casework.cases.stages",
    "casework.cases.search_attributes",
    "casework.calendar.bounds",
    "casework.calendar.deadlines",
    "casework.calendar.policies",
    "casework.calendar.workdays",
    "casework.kinds",
    "casework.tasks.due",
)

SANDBOX_RESTRICTIONS = SandboxRestrictions.default.with_passthrough_modules(*PURE_MODULES)

log = logging.getLogger("casework.worker")


def _own(message: Any) -> Any:
    """A copy of a protobuf message in its own memory, not its parent's."""
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def detached(det: WorkflowInstanceDetails) -> WorkflowInstanceDetails:
    """`det` with no sub-message of the first activation left in it."""
    info = dataclasses.replace(
        det.info,
        headers={key: _own(value) for key, value in det.info.headers.items()},
        raw_memo={key: _own(value) for key, value in det.info.raw_memo.items()},
    )
    return dataclasses.replace(
        det, info=info, last_completion_result=_own(det.last_completion_result),
        last_failure=None if det.last_failure is None else _own(det.last_failure))


class _LeanInstance(_WorkflowInstanceImpl):
    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = super().activate(act)
        self._release()
        return completion

    def _release(self) -> None:
        if hasattr(self, "_current_completion"):
            # Replaced at the start of every activation; the worker holds the one just returned.
            self._current_completion = WorkflowActivationCompletion()
        if hasattr(self, "_current_internal_flags"):
            # A plain list on purpose, so the flags hold no protobuf container.
            self._current_internal_flags = list(self._current_internal_flags)  # type: ignore[assignment]
        start = getattr(self, "_workflow_input", None)
        if start is not None and not isinstance(getattr(start, "headers", {}), dict):
            start.headers = {key: _own(value) for key, value in start.headers.items()}


class LeanWorkflowRunner(WorkflowRunner):
    """Runs workflows with `inner` (unsandboxed if not given), keeping less per cached run."""

    def __init__(self, inner: WorkflowRunner | None = None) -> None:
        self._inner = inner or UnsandboxedWorkflowRunner()

    def prepare_workflow(self, defn: Any) -> None:
        self._inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        det = detached(det)
        if type(self._inner) is UnsandboxedWorkflowRunner:
            return _LeanInstance(det)  # type: ignore[abstract]
        # A sandboxed instance lives inside the sandbox, out of reach: only the copies apply.
        return self._inner.create_instance(det)

    def set_worker_level_failure_exception_types(self, types: Any) -> None:
        self._inner.set_worker_level_failure_exception_types(types)


def build_workflow_runner(settings: Settings, *, stock: bool = False,
                          pass_through: tuple[str, ...] = ()) -> WorkflowRunner:
    """The runner WORKFLOW_RUNNER names (casework.platform.config). `stock` leaves out
    LeanWorkflowRunner, for a worker that is to keep and spend what the SDK's own runner does
    (bench.baseline). `pass_through` adds modules the sandbox is to pass through, for the
    benchmarks' diagnostic workflows, which live beside the worker set-up they run in."""
    return workflow_runner_named(settings.workflow_runner, stock=stock, pass_through=pass_through)


def workflow_runner_named(name: WorkflowRunnerName, *, stock: bool = False,
                          pass_through: tuple[str, ...] = ()) -> WorkflowRunner:
    sdk_runner: WorkflowRunner = (
        UnsandboxedWorkflowRunner() if name.endswith("unsandboxed")
        else SandboxedWorkflowRunner(restrictions=SANDBOX_RESTRICTIONS.with_passthrough_modules(*pass_through))
    )
    if stock or not name.startswith("lean-"):
        return sdk_runner
    return LeanWorkflowRunner(sdk_runner)


def compile_workflow_sources(workflows: Iterable[type]) -> list[str]:
    """Write the bytecode (`__pycache__/*.pyc`) of every module loaded from the packages the
    `workflows` are defined in, where it is missing or stale; returns the files it could not write.

    The sandbox imports a workflow's module and its packages afresh for every run it loads: with
    their bytecode on disk that is executing it, without (PYTHONDONTWRITEBYTECODE set, or a source
    tree the first import could not write to) it is compiling every source file again, which for
    a case's workflow (~2,000 lines) was half the worker's CPU on a case of one request (see
    docs/performance.md). Writing it explicitly does not depend on either. Called by the worker
    before it starts, unsandboxed too (the bytecode is then read once)."""
    packages = {cls.__module__.partition(".")[0] for cls in workflows}
    unwritten = []
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if name.partition(".")[0] in packages and source and source.endswith(".py"):
            if not compileall.compile_file(source, quiet=2):
                unwritten.append(source)
    if unwritten:
        log.warning("could not write the bytecode of %d workflow source files (e.g. %s): the sandbox "
                    "compiles them again for every case it loads", len(unwritten), unwritten[0])
    return unwritten
