"""httpx, set for a variant's protocol, telling the case's evidence what crosses the wire."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator

import httpx

from servers import HTTPProtocol, RunningServer

from .. import evidence
from ._common import TIMEOUT

__all__ = ["http_client"]


def http_client(
    server: RunningServer,
    *,
    timeout: float = TIMEOUT,
    protocol: HTTPProtocol | None = None,
    record: bool = True,
) -> httpx.AsyncClient:
    """An httpx client for ``server`` in its variant's protocol (or in ``protocol``).

    With ``record`` (the default), what it sends and receives goes to the running case's
    evidence transcript, if any.
    """
    protocol = protocol or server.spec.protocol
    verify = server.client_ssl_context() if server.spec.tls else _default_context()
    transport = httpx.AsyncHTTPTransport(
        http1=protocol is HTTPProtocol.HTTP1,
        http2=protocol is not HTTPProtocol.HTTP1,
        verify=verify,
    )
    return httpx.AsyncClient(
        base_url=server.base_url,
        transport=_RecordingTransport(transport) if record else transport,
        timeout=timeout,
    )


@functools.cache
def _default_context() -> ssl.SSLContext:
    """The system's verifying context, made once per process for the plain-text variants.

    Their clients never use it (their URLs are ``http://``), but httpx builds one per transport
    when given ``verify=True``, loading the CA bundle each time: 24 ms of CPU per client, about
    six seconds of every plain variant's run.
    """
    return ssl.create_default_context()


class _RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests through, telling the case's evidence sink what crossed the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if evidence.current() is None:
            return await self.inner.handle_async_request(request)
        headers = ", ".join(f"{k}: {v}" for k, v in request.headers.multi_items())
        body = ""
        if isinstance(request.stream, httpx.ByteStream):
            size = len(request.content)
            body = f" + {size} byte body" if size else ""
        else:
            body = " + streamed body"
        target = request.url.raw_path.decode("ascii", "replace")
        evidence.wire(self, "http", ">", f"{request.method} {target} [{headers}]{body}")
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as error:
            evidence.wire(self, "http", "!", f"{type(error).__name__}: {error}")
            raise
        version = response.extensions.get("http_version", b"")
        version = version.decode() if isinstance(version, bytes) else str(version)
        headers = ", ".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        evidence.wire(self, "http", "<", f"{version} {response.status_code} [{headers}]")
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream):
            response.stream = _RecordingStream(stream, self)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _RecordingStream(httpx.AsyncByteStream):
    """A response body that tells the case's evidence sink about each chunk as it arrives."""

    def __init__(self, inner: httpx.AsyncByteStream, owner: object) -> None:
        self.inner = inner
        self.owner = owner
        self._chunks: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._chunks = self.inner.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        assert self._chunks is not None
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            evidence.wire(self.owner, "http", "<", "(end of body)")
            raise
        except Exception as error:
            evidence.wire(self.owner, "http", "!", f"{type(error).__name__}: {error}")
            raise
        evidence.wire(self.owner, "http", "<", f"body {len(chunk)} bytes {chunk[:48]!r}")
        return chunk

    async def aclose(self) -> None:
        await self.inner.aclose()
