"""Temporal client wiring shared by the worker, the API, `make run` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from casework.platform import tracing
from casework.platform.config import Settings


class TemporalSettingsError(ValueError):
    """A TEMPORAL_* setting that cannot work, named with the reason."""


def _read(setting: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TemporalSettingsError(f"{setting}: cannot read {path}: {exc.strerror}") from exc


def connection_options(settings: Settings) -> dict[str, Any]:
    """`Client.connect` keyword arguments for the TLS and API key settings (none without them)."""
    if (settings.temporal_tls_cert is None) != (settings.temporal_tls_key is None):
        given, missing = (("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY") if settings.temporal_tls_key is None
                          else ("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CERT"))
        raise TemporalSettingsError(f"{missing}: required with {given} (mTLS needs the client "
                                    "certificate and its private key)")
    files = (settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key)
    options: dict[str, Any] = {}
    if settings.temporal_api_key:
        options["api_key"] = settings.temporal_api_key
    if any(files) or settings.temporal_tls_server_name:
        options["tls"] = TLSConfig(
            server_root_ca_cert=_read("TEMPORAL_TLS_CA", settings.temporal_tls_ca),
            client_cert=_read("TEMPORAL_TLS_CERT", settings.temporal_tls_cert),
            client_private_key=_read("TEMPORAL_TLS_KEY", settings.temporal_tls_key),
            domain=settings.temporal_tls_server_name or None,
        )
    elif settings.temporal_tls or settings.temporal_api_key:
        options["tls"] = True  # the system's trusted CAs
    return options


async def connect(settings: Settings, address: str | None = None, *, runtime: Runtime | None = None) -> Client:
    """A client of `address` (default TEMPORAL_ADDRESS) with our data converter, TLS and API key,
    tracing when this process traces (casework.platform.tracing), on `runtime` (the worker's, which
    serves its metrics) or the SDK's default."""
    address = address or settings.temporal_address
    if not address:
        raise RuntimeError("TEMPORAL_ADDRESS is not set (make run starts a dev server and sets it)")
    return await Client.connect(
        address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        interceptors=tracing.temporal_interceptors(tracing.current()),
        runtime=runtime,
        **connection_options(settings),
    )
