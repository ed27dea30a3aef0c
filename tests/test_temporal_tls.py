"""Connecting to a Temporal cluster behind TLS: the TEMPORAL_TLS_* and TEMPORAL_API_KEY settings.

The end-to-end tests put a TLS-terminating proxy that requires a client certificate (mTLS, as a
self-hosted cluster or Temporal Cloud does) in front of the test session's dev server, with
certificates from a throwaway CA, and connect through it with the settings a deployment would use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import pytest
import trustme
from temporalio.service import TLSConfig

from casework.platform.config import Settings
from casework.platform.temporal import TemporalSettingsError, connect, connection_options

SERVER_NAME = "temporal.casework.test"


def test_no_tls_settings_mean_a_plain_connection(settings: Settings):
    assert connection_options(settings) == {}


def test_an_api_key_or_temporal_tls_alone_use_tls_with_the_systems_trusted_cas(settings: Settings):
    assert connection_options(settings.model_copy(update={"temporal_api_key": "key-1"})) == {
        "api_key": "key-1", "tls": True}
    assert connection_options(settings.model_copy(update={"temporal_tls": True})) == {"tls": True}


def test_a_client_certificate_without_its_key_is_refused_naming_the_missing_setting(settings: Settings, tmp_path):
    cert = tmp_path / "client.pem"
    cert.write_text("certificate")
    with pytest.raises(TemporalSettingsError, match="^TEMPORAL_TLS_KEY: required with TEMPORAL_TLS_CERT"):
        connection_options(settings.model_copy(update={"temporal_tls_cert": cert}))
    with pytest.raises(TemporalSettingsError, match="^TEMPORAL_TLS_CERT: required with TEMPORAL_TLS_KEY"):
        connection_options(settings.model_copy(update={"temporal_tls_key": cert}))


def test_an_unreadable_file_is_refused_naming_the_setting_and_the_path(settings: Settings, tmp_path):
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(TemporalSettingsError, match=f"^TEMPORAL_TLS_CA: cannot read {missing}"):
        connection_options(settings.model_copy(update={"temporal_tls_ca": missing}))


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(authority: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    client = authority.issue_cert("casework-worker")
    files = {"temporal_tls_ca": tmp_path / "ca.pem", "temporal_tls_cert": tmp_path / "client.pem",
             "temporal_tls_key": tmp_path / "client.key"}
    authority.cert_pem.write_to_path(str(files["temporal_tls_ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["temporal_tls_cert"]))
    client.private_key_pem.write_to_path(str(files["temporal_tls_key"]))
    return files


def test_the_files_and_server_name_become_the_clients_tls_config(settings: Settings, tls_files):
    options = connection_options(settings.model_copy(
        update={**tls_files, "temporal_tls_server_name": SERVER_NAME}))
    assert options == {"tls": TLSConfig(
        server_root_ca_cert=tls_files["temporal_tls_ca"].read_bytes(),
        client_cert=tls_files["temporal_tls_cert"].read_bytes(),
        client_private_key=tls_files["temporal_tls_key"].read_bytes(),
        domain=SERVER_NAME)}


@contextlib.asynccontextmanager
async def mtls_proxy(authority: trustme.CA, target: str):
    """A TLS front for `target` (host:port) that accepts only clients with a certificate from
    `authority`, and speaks HTTP/2 (gRPC) once the handshake is done."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(SERVER_NAME).configure_cert(context)
    authority.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = target.rsplit(":", 1)
    streams: list[asyncio.StreamWriter] = []

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        streams.extend([writer, upstream_writer])
        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in streams:
            writer.close()


async def test_the_worker_and_api_connect_to_a_cluster_that_requires_a_client_certificate(
        settings: Settings, authority: trustme.CA, tls_files):
    async with mtls_proxy(authority, settings.temporal_address) as address:
        secured = settings.model_copy(update={**tls_files, "temporal_address": address,
                                              "temporal_tls_server_name": SERVER_NAME})
        client = await asyncio.wait_for(connect(secured), 60)
        # A visibility query through TLS, naming one of our search attributes.
        count = await client.count_workflows("CaseStage = 'No such stage'")
        assert count.count == 0


async def test_without_the_client_certificate_the_cluster_refuses_the_connection(
        settings: Settings, authority: trustme.CA, tls_files):
    async with mtls_proxy(authority, settings.temporal_address) as address:
        no_certificate = settings.model_copy(update={
            "temporal_address": address, "temporal_tls_ca": tls_files["temporal_tls_ca"],
            "temporal_tls_server_name": SERVER_NAME})
        with pytest.raises(RuntimeError, match="(?i)connect"):
            client = await asyncio.wait_for(connect(no_certificate), 60)
            await client.count_workflows()
