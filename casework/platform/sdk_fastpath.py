"""Skip the Temporal SDK's payload-codec passes when there is no codec and no external storage.

For every workflow activation, temporalio 1.35 walks the activation three times and the completion
three times: one walk each for the payload codec, external storage and storage references. Each
walk re-copies every payload sequence in place and schedules asyncio tasks. The SDK also builds a
fresh data converter, with a new payload converter, twice per activation, to give a codec the
context of the command it is encoding. With no payload codec and no external storage configured
(our default), none of these passes changes a byte. Their cost grows with the payloads, and a case
step carries the whole case state twice: the projection's input and the Update's result. We
measured 24 of 160 ms of worker CPU per case at concurrency 20 (see docs/performance.md).

`install()` wraps the three SDK functions involved. Each wrapper looks at the converter it is
given and calls the SDK's own function whenever a codec or external storage is configured, so a
deployment that adds, say, an encryption codec gets exactly the SDK's behaviour. One check is
lost in the fast path: the SDK's error for a payload stored externally reaching a worker that has
no external storage configured. Such a payload then fails in the payload converter instead, as
one in an unknown encoding does.

It reaches into SDK internals (module functions the worker looks up at each call), so it only
installs on a temporalio release it was tested with (`TESTED_TEMPORALIO`; pyproject pins the
minor) and, even there, checks that they are there; otherwise it logs a warning once and leaves
the SDK alone, whose own path then runs. `tests/test_sdk_fastpath.py` checks that the wrappers are
in place and take effect. This is the kind of code an SDK upgrade can break, and those tests would
catch it: after running them on a new release, add it to `TESTED_TEMPORALIO`.
"""

from __future__ import annotations

import logging
from typing import Any

import temporalio
import temporalio.bridge.worker as bridge_worker
from temporalio.converter import DataConverter

log = logging.getLogger(__name__)

try:  # internals of temporalio 1.35
    from temporalio.converter._extstore import StorageOperationMetrics
    from temporalio.worker._workflow import _CommandAwareDataConverter
except ImportError:  # pragma: no cover - a future SDK without them
    StorageOperationMetrics = _CommandAwareDataConverter = None  # type: ignore[assignment,misc]

_INSTALLED = "_casework_fastpath"

# temporalio releases whose internals this module was tested against (tests/test_sdk_fastpath.py).
TESTED_TEMPORALIO = frozenset({"1.35.0"})

_refused = False


def plain(converter: DataConverter) -> bool:
    """True if `converter` leaves encoded payloads as they are: no codec, no external storage."""
    return converter.payload_codec is None and getattr(converter, "external_storage", None) is None


def install() -> bool:
    """Install the fast path (once per process); False, leaving the SDK's own path, on a temporalio
    release it was not tested with or one that lacks what it wraps."""
    if getattr(bridge_worker, _INSTALLED, False):
        return True
    version = getattr(temporalio, "__version__", "unknown")
    if version not in TESTED_TEMPORALIO:
        return _refuse(f"temporalio {version} is not one it was tested with ({', '.join(sorted(TESTED_TEMPORALIO))})")
    names = ("decode_activation", "encode_completion")
    if StorageOperationMetrics is None or _CommandAwareDataConverter is None or not all(
            callable(getattr(bridge_worker, name, None)) for name in names) or not callable(
            getattr(_CommandAwareDataConverter, "create", None)):
        return _refuse("temporalio internals changed")
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
    # Replacing the SDK's method is the point; mypy rejects assigning to a method.
    _CommandAwareDataConverter.create = staticmethod(create_converter)  # type: ignore[method-assign,assignment]
    setattr(bridge_worker, _INSTALLED, True)
    return True


def _refuse(reason: str) -> bool:
    global _refused
    if not _refused:
        _refused = True
        log.warning("%s: payload fast path not installed, the SDK's own codec passes run", reason)
    return False
