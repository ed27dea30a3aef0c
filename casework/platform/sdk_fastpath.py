"""Skip the Temporal SDK's payload-codec passes when there is no codec and no external storage.

For every workflow activation, temporalio 1.35 walks the activation three times and the completion
three times: one walk each for the payload codec, external storage and storage references. Each
walk re-copies every payload sequence in place and schedules asyncio tasks. The SDK also builds a
fresh data converter, with a new payload converter, twice per activation, to give a codec the
context of the command it is encoding. With no payload codec and no external storage configured
(our default), none of these passes changes a byte. Their cost grows with the payloads, and a case
step carries the whole case state twice: the projection's input and the Update's result. We
measured 24 of 160 ms of worker CPU per case at concurrency 20 (see BENCHMARKS.md).

`install()` wraps the three SDK functions involved. Each wrapper looks at the converter it is
given and calls the SDK's own function whenever a codec or external storage is configured, so a
deployment that adds, say, an encryption codec gets exactly the SDK's behaviour. One check is
lost in the fast path: the SDK's error for a payload stored externally reaching a worker that has
no external storage configured. Such a payload then fails in the payload converter instead, as
one in an unknown encoding does.

It reaches into SDK internals (module functions the worker looks up at each call), so it checks
that they are there and leaves the SDK alone where one is missing; `tests/test_sdk_fastpath.py`
checks that the wrappers are in place and take effect. This is the kind of code an SDK upgrade
can break, and those tests would catch it.
"""

from __future__ import annotations

import logging
from typing import Any

import temporalio.bridge.worker as bridge_worker
from temporalio.converter import DataConverter

log = logging.getLogger(__name__)

try:  # internals of temporalio 1.35
    from temporalio.converter._extstore import StorageOperationMetrics
    from temporalio.worker._workflow import _CommandAwareDataConverter
except ImportError:  # pragma: no cover - a future SDK without them
    StorageOperationMetrics = _CommandAwareDataConverter = None  # type: ignore[assignment,misc]

_INSTALLED = "_casework_fastpath"


def plain(converter: DataConverter) -> bool:
    """True if `converter` leaves encoded payloads as they are: no codec, no external storage."""
    return converter.payload_codec is None and getattr(converter, "external_storage", None) is None


def install() -> bool:
    """Install the fast path (once per process); False if this SDK lacks what it wraps."""
    if getattr(bridge_worker, _INSTALLED, False):
        return True
    names = ("decode_activation", "encode_completion")
    if StorageOperationMetrics is None or _CommandAwareDataConverter is None or not all(
            callable(getattr(bridge_worker, name, None)) for name in names) or not callable(
            getattr(_CommandAwareDataConverter, "create", None)):
        log.warning("temporalio internals changed: payload fast path not installed")
        return False
    decode, encode = bridge_worker.decode_activation, bridge_worker.encode_completion
    create = _CommandAwareDataConverter.create

    async def decode_activation(activation: Any, data_converter: DataConverter, *args: Any, **kwargs: Any):
        if plain(data_converter):
            return StorageOperationMetrics()
        return await decode(activation, data_converter, *args, **kwargs)

    async def encode_completion(completion: Any, data_converter: DataConverter, *args: Any, **kwargs: Any):
        if plain(data_converter):
            return StorageOperationMetrics()
        return await encode(completion, data_converter, *args, **kwargs)

    def create_converter(*args: Any, **kwargs: Any) -> DataConverter:
        # The per-command converter only serves the codec passes; without a codec the workflow's
        # own converter does (it is also what turns a failed activation into a failure).
        context_converter = kwargs.get("workflow_context_dc")
        if context_converter is not None and plain(context_converter):
            return context_converter
        return create(*args, **kwargs)

    bridge_worker.decode_activation = decode_activation
    bridge_worker.encode_completion = encode_completion
    _CommandAwareDataConverter.create = staticmethod(create_converter)
    setattr(bridge_worker, _INSTALLED, True)
    return True
