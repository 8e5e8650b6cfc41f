"""The checked fetch over https: the connection goes to the checked address, yet TLS still
sends the host's name (SNI) and checks the certificate against it."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aura_site.fetch import FetchRefused, checked_fetch

BODY = b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 2048


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificates(directory: Path, dns_name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signs for ``dns_name``: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Aura test CA"))
        .issuer_name(_name("Aura test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class TlsServer:
    port: int
    ca: Path
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


async def _serve(tmp_path: Path, dns_name: str) -> AsyncIterator[TlsServer]:
    ca, cert, key = _certificates(tmp_path, dns_name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: server_names.append(name)
    hosts: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()
            return
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "host":
                hosts.append(value.strip())
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(BODY), BODY)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield TlsServer(port, ca, server_names, hosts)
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def localhost_tls(tmp_path: Path) -> AsyncIterator[TlsServer]:
    async for server in _serve(tmp_path, "localhost"):
        yield server


@pytest.fixture
async def misnamed_tls(tmp_path: Path) -> AsyncIterator[TlsServer]:
    async for server in _serve(tmp_path, "cdn.example.com"):
        yield server


async def test_https_is_pinned_to_the_checked_address_with_the_name_in_sni_and_host(
    localhost_tls: TlsServer,
) -> None:
    origin = f"https://localhost:{localhost_tls.port}"
    verify = ssl.create_default_context(cafile=localhost_tls.ca)
    async with httpx.AsyncClient(verify=verify, trust_env=False) as client:
        fetched = await checked_fetch(
            client,
            origin + "/clip.mp4",
            allowed_private=[origin],
            max_bytes=100_000,
            timeout=5.0,
            content_types=["video/mp4"],
        )

    assert fetched.body == BODY
    assert fetched.url == origin + "/clip.mp4"
    assert localhost_tls.server_names == ["localhost"]
    assert localhost_tls.hosts == [f"localhost:{localhost_tls.port}"]


async def test_the_certificate_is_still_checked_against_the_name(
    misnamed_tls: TlsServer,
) -> None:
    origin = f"https://localhost:{misnamed_tls.port}"
    verify = ssl.create_default_context(cafile=misnamed_tls.ca)
    async with httpx.AsyncClient(verify=verify, trust_env=False) as client:
        with pytest.raises(FetchRefused) as refused:
            await checked_fetch(
                client,
                origin + "/clip.mp4",
                allowed_private=[origin],
                max_bytes=100_000,
                timeout=5.0,
            )

    assert refused.value.code == "network"
    assert "certificate" in refused.value.reason.lower()
    assert misnamed_tls.hosts == []
