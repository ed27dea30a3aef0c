"""The worker's fast path past the SDK's payload-codec passes (casework/platform/sdk_fastpath.py).

Without a codec, the SDK's walks over activations and completions are skipped. With one, the SDK
encodes every payload as before, end to end through a real worker and server.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from datetime import timedelta

import pytest
import temporalio.bridge.worker as bridge_worker
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.bridge._visitor import PayloadVisitor
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from casework.platform import sdk_fastpath

CODEC_ENCODING = b"binary/casework-test"


class MarkingCodec(PayloadCodec):
    """Wraps each payload whole, as an encryption codec would, under its own encoding."""

    async def encode(self, payloads):
        return [Payload(metadata={"encoding": CODEC_ENCODING}, data=base64.b64encode(p.SerializeToString()))
                for p in payloads]

    async def decode(self, payloads):
        return [Payload.FromString(base64.b64decode(p.data)) if p.metadata.get("encoding") == CODEC_ENCODING
                else p for p in payloads]


CODEC_CONVERTER = dataclasses.replace(pydantic_data_converter, payload_codec=MarkingCodec())


def completion_with(data: bytes) -> WorkflowActivationCompletion:
    completion = WorkflowActivationCompletion(run_id="run")
    command = completion.successful.commands.add()
    command.complete_workflow_execution.result.CopyFrom(
        Payload(metadata={"encoding": b"json/plain"}, data=data))
    return completion


async def test_without_a_codec_the_walks_are_skipped_and_with_one_they_run(monkeypatch):
    assert sdk_fastpath.install()
    assert sdk_fastpath.install()  # once per process: a second call changes nothing
    walks = []
    original = PayloadVisitor.visit

    async def counting(self, *args, **kwargs):
        walks.append(self)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(PayloadVisitor, "visit", counting)

    plain = completion_with(b'"done"')
    await bridge_worker.encode_completion(plain, pydantic_data_converter, encode_headers=True,
                                          storage_concurrency_limit=1)
    activation = WorkflowActivation(run_id="run")
    activation.jobs.add().do_update.input.add().CopyFrom(Payload(metadata={"encoding": b"json/plain"}, data=b"1"))
    await bridge_worker.decode_activation(activation, pydantic_data_converter, decode_headers=True,
                                          storage_concurrency_limit=1)
    assert walks == []
    assert activation.jobs[0].do_update.input[0].data == b"1"
    assert plain.successful.commands[0].complete_workflow_execution.result.data == b'"done"'

    coded = completion_with(b'"done"')
    await bridge_worker.encode_completion(coded, CODEC_CONVERTER, encode_headers=True,
                                          storage_concurrency_limit=1)
    assert len(walks) == 3  # codec, external storage, storage references
    result = coded.successful.commands[0].complete_workflow_execution.result
    assert result.metadata["encoding"] == CODEC_ENCODING
    assert (await MarkingCodec().decode([result]))[0].data == b'"done"'


@activity.defn
async def shout(text: str) -> str:
    return text.upper() + "!"


@workflow.defn
class ShoutWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=30))


@pytest.mark.parametrize("codec", [False, True], ids=["no codec", "codec"])
async def test_a_real_worker_encodes_payloads_exactly_when_a_codec_is_configured(temporal: Client, codec: bool):
    assert sdk_fastpath.install()
    converter = CODEC_CONVERTER if codec else pydantic_data_converter
    client = Client(temporal.service_client, namespace=temporal.namespace, data_converter=converter)
    queue = f"fastpath-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[ShoutWorkflow], activities=[shout],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(ShoutWorkflow.run, "hello", id=f"shout-{uuid.uuid4()}",
                                             task_queue=queue)
        assert await handle.result() == "HELLO!"

    history = await handle.fetch_history()
    payloads = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            payloads["activity input"] = event.activity_task_scheduled_event_attributes.input.payloads[0]
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            payloads["activity result"] = event.activity_task_completed_event_attributes.result.payloads[0]
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads["workflow result"] = event.workflow_execution_completed_event_attributes.result.payloads[0]
    assert set(payloads) == {"activity input", "activity result", "workflow result"}
    for what, payload in payloads.items():
        if codec:
            assert payload.metadata["encoding"] == CODEC_ENCODING, what
            assert (await MarkingCodec().decode([payload]))[0].data in (b'"hello"', b'"HELLO!"'), what
        else:
            assert payload.metadata["encoding"] == b"json/plain", what
            assert payload.data in (b'"hello"', b'"HELLO!"'), what
