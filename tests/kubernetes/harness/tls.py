"""The test API server over HTTPS, as a Pod reaches it: `KUBERNETES_SERVICE_HOST/PORT`, the
service account's `token` and `ca.crt`. Used by KubeHarness(tls=True).

A real API server answers 401 to a request without a valid token; so does this entry point,
which then hands the request to the same Apiserver the plain-HTTP URL serves.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp.web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Handler = Callable[[aiohttp.web.BaseRequest], Awaitable[aiohttp.web.StreamResponse]]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def write_certificates(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca, cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("kmock-ca"))
        .issuer_name(_name("kmock-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("kubernetes"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (folder / "ca.crt", folder / "server.crt", folder / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class TlsEntry:
    """The HTTPS entry point: where it listens, what a client needs, what it has seen."""

    folder: pathlib.Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = 0
    ca_file: pathlib.Path | None = None
    answered: int = 0  # requests with the token, handed to the API server
    refused: int = 0  # requests without it (401)
    _runner: aiohttp.web.BaseRunner | None = None

    async def start(self, api: Handler) -> None:
        ca, cert, key = write_certificates(self.folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        async def handle(request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                self.refused += 1
                body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 401}
                return aiohttp.web.json_response({**body, "reason": "Unauthorized"}, status=401)
            self.answered += 1
            return await api(request)

        self._runner = aiohttp.web.ServerRunner(aiohttp.web.Server(handle))
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.ca_file = ca

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def service_account(self, folder: pathlib.Path, namespace: str) -> pathlib.Path:
        """A Pod's /var/run/secrets/kubernetes.io/serviceaccount for this entry, in `folder`."""
        assert self.ca_file is not None, "the TLS entry point is not started"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(self.token)
        (folder / "ca.crt").write_bytes(self.ca_file.read_bytes())
        (folder / "namespace").write_text(namespace)
        return folder
