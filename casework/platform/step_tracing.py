"""Temporal's TracingInterceptor, with each case step in the trace of the request that sent it.

The stock interceptor puts everything a workflow does in the trace of the request that *started*
it and only links an Update's own trace: a step's activities and SQL would then sit in the
registration's trace, weeks old. Subclassing is how its documentation says to customise it: here
an Update that carries a trace context (a client with this interceptor sent it) is handled in that
context, so the HTTP request, the Update, its activities and their SQL are one trace. Imported
only when tracing is on (casework.platform.tracing).

It calls two of the stock class's underscore methods (`_completed_span`, `_set_on_context`), as the
stock handlers do. temporalio is pinned to the tested minor release; on a release without them the
stock behaviour is kept (a warning says so) and tests/test_observability.py fails.
"""

from __future__ import annotations

import logging
from typing import Any

import opentelemetry.context
import opentelemetry.trace
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.worker import HandleUpdateInput, WorkflowInterceptorClassInput

log = logging.getLogger(__name__)
# What this needs of the stock inbound interceptor beyond its public surface.
SUPPORTED = all(hasattr(TracingWorkflowInboundInterceptor, name) for name in ("_completed_span", "_set_on_context"))


class StepsInTheirRequestsTrace(TracingWorkflowInboundInterceptor):
    def _callers_context(self, input: HandleUpdateInput) -> opentelemetry.context.Context | None:
        header = input.headers.get(self.header_key)
        if not header:
            return None
        carrier = self.payload_converter.from_payloads([header])[0]
        # With this interceptor on the context, the activities the step starts find it.
        return self._set_on_context(self.text_map_propagator.extract(carrier))

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        context = self._callers_context(input)
        if context is None:
            return super().handle_update_validator(input)
        token = opentelemetry.context.attach(context)
        try:
            self._completed_span(f"ValidateUpdate:{input.update}", kind=opentelemetry.trace.SpanKind.SERVER)
            self.next.handle_update_validator(input)
        finally:
            opentelemetry.context.detach(token)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        context = self._callers_context(input)
        if context is None:
            return await super().handle_update_handler(input)
        # The handler runs as a task of its own: what is attached here stays with this step.
        opentelemetry.context.attach(context)
        self._completed_span(f"HandleUpdate:{input.update}", kind=opentelemetry.trace.SpanKind.SERVER)
        return await self.next.handle_update_handler(input)


class StepTracingInterceptor(TracingInterceptor):
    def workflow_interceptor_class(
            self, input: WorkflowInterceptorClassInput) -> type[TracingWorkflowInboundInterceptor]:
        stock = super().workflow_interceptor_class(input)  # registers the span-making function with the worker
        if not SUPPORTED:
            log.warning("this temporalio release lacks what step tracing uses: a step's activities are "
                        "traced under the case's registration, linked to the step's request")
            return stock
        return StepsInTheirRequestsTrace
