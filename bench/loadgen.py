"""A lean HTTP/1.1 client for the step scenario's load generator.

The load generator shares the machine's two cores with the system it measures. httpx spent ~40 ms of
CPU per case walked (9 requests) where the Temporal client driving the baseline spends ~12, so at
c=20 part of what the benchmark measured was its own client. This one does only what the scenario
needs: keep-alive connections to one server, JSON and multipart bodies, Content-Length or chunked
responses. It has the same `request` signature as httpx for what the scenarios use.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import mimetypes
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Response:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self):
        return jsonlib.loads(self.content)


class _Closed(Exception):
    """The server had closed the connection: not a byte of a response came back."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, head: bytes, body: bytes) -> tuple[Response, bool]:
        """Send one request; the response and whether the connection may be reused."""
        self.writer.write(head + body)
        try:
            head_bytes = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            raise _Closed from exc
        except ConnectionResetError as exc:
            raise _Closed from exc
        status_line, *header_lines = head_bytes[:-4].split(b"\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            content = await self._chunked()
        else:
            content = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        reusable = headers.get(b"connection", b"").lower() != b"close"
        return Response(int(status_line.split(b" ", 2)[1]), content), reusable

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers are sent to us
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


class LeanClient:
    """Keep-alive HTTP/1.1 to one base URL; use as an async context manager."""

    def __init__(self, base_url: str, *, timeout: float = 120) -> None:
        url = urlsplit(base_url)
        self._timeout = timeout
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._host_header = f"Host: {url.netloc}\r\n".encode()
        self._idle: list[_Connection] = []

    async def __aenter__(self) -> "LeanClient":
        return self

    async def __aexit__(self, *exc) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      json=None, data: dict[str, str] | None = None,
                      files: dict[str, tuple[str, bytes]] | None = None) -> Response:
        body, content_type = _body(json, data, files)
        lines = [f"{method} {url} HTTP/1.1\r\n".encode(), self._host_header,
                 f"Content-Length: {len(body)}\r\n".encode()]
        if content_type:
            lines.append(f"Content-Type: {content_type}\r\n".encode())
        lines += [f"{name}: {value}\r\n".encode() for name, value in (headers or {}).items()]
        lines.append(b"\r\n")
        while True:
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else _Connection(
                *await asyncio.open_connection(self._host, self._port))
            try:
                async with asyncio.timeout(self._timeout):
                    response, reusable = await connection.exchange(b"".join(lines), body)
                break
            except _Closed:
                # An idle keep-alive connection the server closed (uvicorn does after 5 s): it
                # never read the request, so it is sent again on another connection.
                connection.close()
                if not reused:
                    raise
            except BaseException:
                connection.close()
                raise
        if reusable:
            self._idle.append(connection)
        else:
            connection.close()
        return response


def _body(json, data, files) -> tuple[bytes, str | None]:
    if json is not None:
        return jsonlib.dumps(json).encode(), "application/json"
    if files is None:
        return b"", None
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (data or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {mimetypes.guess_type(filename)[0] or 'application/octet-stream'}\r\n\r\n".encode()
                     + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
