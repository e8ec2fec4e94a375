"""Certificates made at run time, and the client side of TLS.

Each TLS launch gets a fresh throwaway CA (trustme) and a leaf certificate for ``127.0.0.1``
and ``localhost``, written as PEM files into a temporary directory. The key is written as
PKCS#8 (``BEGIN PRIVATE KEY``): trustme writes the traditional SEC1 format
(``BEGIN EC PRIVATE KEY``) and ``granian --help`` says it takes PKCS#8 only. (granian 2.8.7
accepted SEC1 and PKCS#1 keys when tried, but PKCS#8 is the format every server accepts.)
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ALPN_H2_AND_HTTP1", "Certificates", "client_ssl_context", "make_certificates"]

#: The ALPN offer of a client that prefers HTTP/2 and falls back to HTTP/1.1.
ALPN_H2_AND_HTTP1 = ("h2", "http/1.1")


@dataclass(frozen=True, slots=True)
class Certificates:
    """PEM files for one TLS server.

    Attributes:
        ca_path: The CA certificate a client must trust.
        certfile: The server's certificate chain, leaf first.
        keyfile: The server's private key, PKCS#8, unencrypted.
    """

    ca_path: Path
    certfile: Path
    keyfile: Path

    def client_ssl_context(self, alpn: Sequence[str] = ALPN_H2_AND_HTTP1) -> ssl.SSLContext:
        """Return a client context that trusts this CA; see :func:`client_ssl_context`."""
        return client_ssl_context(self.ca_path, alpn)


def make_certificates(directory: Path) -> Certificates:
    """Make a CA and a server certificate for ``127.0.0.1`` and ``localhost`` in ``directory``.

    Args:
        directory: An existing directory; ``ca.pem``, ``cert.pem`` and ``key.pem`` are written.

    Returns:
        The paths of the three files.
    """
    # Imported here: trustme and cryptography are only needed by TLS variants.
    import trustme
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    files = Certificates(
        ca_path=directory / "ca.pem",
        certfile=directory / "cert.pem",
        keyfile=directory / "key.pem",
    )
    files.ca_path.write_bytes(ca.cert_pem.bytes())
    files.certfile.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key = load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    files.keyfile.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    files.keyfile.chmod(0o600)
    return files


def client_ssl_context(ca_path: Path, alpn: Sequence[str] = ALPN_H2_AND_HTTP1) -> ssl.SSLContext:
    """Return a verifying client context that trusts ``ca_path`` and offers ``alpn``.

    Hostname checking stays on: the certificate names ``127.0.0.1``, so connect to that.

    Args:
        ca_path: The CA certificate, e.g. :attr:`Certificates.ca_path`.
        alpn: The protocols to offer, most preferred first.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_path))
    context.set_alpn_protocols(list(alpn))
    return context
