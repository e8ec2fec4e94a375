"""Run-time certificates: the files, the key format, and a real handshake in memory."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from servers import Certificates, client_ssl_context, make_certificates


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, hostname: str) -> ssl.SSLObject:
    """Run a TLS handshake between two contexts through memory BIOs; return the client side."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side in (("client", client_side), ("server", server_side)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return client_side
    raise AssertionError("the handshake did not finish")


def server_context(certificates: Certificates) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.certfile, certificates.keyfile)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def test_the_key_is_pkcs8_for_granian(certificates: Certificates) -> None:
    pem = certificates.keyfile.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert certificates.keyfile.stat().st_mode & 0o777 == 0o600


def test_the_certificate_names_loopback(certificates: Certificates) -> None:
    leaf = x509.load_pem_x509_certificate(certificates.certfile.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_a_client_trusting_the_ca_verifies_and_negotiates_h2(
    certificates: Certificates, hostname: str
) -> None:
    client = certificates.client_ssl_context()
    assert client.verify_mode is ssl.CERT_REQUIRED
    assert client.check_hostname
    tls = handshake(client, server_context(certificates), hostname)
    assert tls.selected_alpn_protocol() == "h2"


def test_alpn_offer_can_be_http1_only(certificates: Certificates) -> None:
    client = client_ssl_context(certificates.ca_path, alpn=["http/1.1"])
    tls = handshake(client, server_context(certificates), "127.0.0.1")
    assert tls.selected_alpn_protocol() == "http/1.1"


def test_another_ca_is_not_trusted(certificates: Certificates, tmp_path: Path) -> None:
    stranger = make_certificates(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(stranger.client_ssl_context(), server_context(certificates), "127.0.0.1")
