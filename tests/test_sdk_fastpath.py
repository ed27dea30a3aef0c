"""The worker's fast path past the SDK's payload-codec passes (casework/platform/sdk_fastpath.py).

Without a codec, the SDK's walks over activations and completions are skipped. With one, the SDK
encodes every payload as before, end to end through a real worker and server.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta

import pytest
import temporalio
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


def test_an_sdk_release_it_was_not_tested_with_keeps_the_sdk_path_and_says_so_once(monkeypatch, caplog):
    assert temporalio.__version__ in sdk_fastpath.TESTED_TEMPORALIO  # pyproject pins what was tested
    monkeypatch.setattr(temporalio, "__version__", "1.99.0")
    monkeypatch.setattr(bridge_worker, "_casework_fastpath", False, raising=False)
    monkeypatch.setattr(sdk_fastpath, "_refused", False)
    before = bridge_worker.decode_activation, bridge_worker.encode_completion
    with caplog.at_level(logging.WARNING, logger=sdk_fastpath.__name__):
        assert sdk_fastpath.install() is False
        assert sdk_fastpath.install() is False
    assert (bridge_worker.decode_activation, bridge_worker.encode_completion) == before
    assert not bridge_worker._casework_fastpath
    assert [r.getMessage() for r in caplog.records] == [
        "temporalio 1.99.0 is not one it was tested with (1.35.0): payload fast path not installed, "
        "the SDK's own codec passes run"]


REFUSED_IN_A_FRESH_PROCESS = textwrap.dedent("""
    import asyncio

    import temporalio
    import temporalio.bridge.worker as bridge_worker
    from temporalio.api.common.v1 import Payload
    from temporalio.bridge._visitor import PayloadVisitor
    from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
    from temporalio.contrib.pydantic import pydantic_data_converter

    temporalio.__version__ = "1.99.0"
    from casework.platform import sdk_fastpath

    assert sdk_fastpath.install() is False
    assert bridge_worker.encode_completion.__module__ == "temporalio.bridge.worker"
    walks = []
    visit = PayloadVisitor.visit

    async def counting(self, *args, **kwargs):
        walks.append(self)
        return await visit(self, *args, **kwargs)

    PayloadVisitor.visit = counting
    completion = WorkflowActivationCompletion(run_id="run")
    result = completion.successful.commands.add().complete_workflow_execution.result
    result.CopyFrom(Payload(metadata={"encoding": b"json/plain"}, data=b'"done"'))
    asyncio.run(bridge_worker.encode_completion(completion, pydantic_data_converter, encode_headers=True,
                                                storage_concurrency_limit=1))
    assert len(walks) == 3, walks  # the SDK's own passes: codec, external storage, storage references
    assert completion.successful.commands[0].complete_workflow_execution.result.data == b'"done"'
    print("sdk path")
""")


def test_refused_in_a_fresh_process_the_sdk_path_is_untouched_and_works():
    done = subprocess.run([sys.executable, "-c", REFUSED_IN_A_FRESH_PROCESS], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sdk path"


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
