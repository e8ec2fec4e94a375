"""What every client shares: the default deadline, probe tokens, and opening a raw connection."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import Final

from servers import RunningServer

from .. import evidence

__all__ = ["TIMEOUT", "connect", "new_token"]

#: The default deadline of one wait, scaled by ``ASGI_CONFORMANCE_TIMEOUT_FACTOR``.
TIMEOUT: Final = 5.0 * float(os.environ.get("ASGI_CONFORMANCE_TIMEOUT_FACTOR", "1"))


def new_token() -> str:
    """A fresh token naming one probe in the observation channel."""
    token = uuid.uuid4().hex[:16]
    evidence.token_made(token)
    return token


async def connect(
    server: RunningServer, *, alpn: str, receive_buffer: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP (or, for TLS variants, TLS with ALPN ``alpn``) connection to ``server``.

    With ``receive_buffer``, the socket's ``SO_RCVBUF`` is set to it before connecting (which
    also turns off the kernel's receive-buffer autotuning) and the stream reader buffers at
    most about as much: a client that stops reading then holds only that much, so whatever
    else the server has produced must wait in the server (or its kernel send buffer).
    """
    context = None
    if server.spec.tls:
        context = server.client_ssl_context()
        context.set_alpn_protocols([alpn])
    if receive_buffer is None:
        return await asyncio.wait_for(
            asyncio.open_connection(server.host, server.port, ssl=context), TIMEOUT
        )
    family, kind, proto, _, address = (
        await asyncio.get_running_loop().getaddrinfo(
            server.host, server.port, type=socket.SOCK_STREAM
        )
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address), TIMEOUT)
        return await asyncio.wait_for(
            asyncio.open_connection(
                sock=sock,
                ssl=context,
                server_hostname=server.host if context is not None else None,
                limit=max(receive_buffer // 2, 1024),
            ),
            TIMEOUT,
        )
    except BaseException:
        sock.close()
        raise
