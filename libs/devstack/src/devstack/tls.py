"""A certificate authority of the local platform's own, for TLS between its processes.

``make run`` and the tests have no public CA to ask: they make a CA here, sign server
certificates for loopback (Postgres, the Kafka broker) and client certificates, and hand the
services the CA's certificate, exactly as an operator hands them the cluster's CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_DAYS = 365


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "booking-platform (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass
class LocalCA:
    """A CA kept in ``directory`` (made once, reused by a platform that restarts)."""

    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def _key_path(self) -> Path:
        return self.directory / "ca.key"

    def ensure(self) -> LocalCA:
        if self.cert.exists() and self._key_path.exists():
            return self
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("booking-platform local CA"))
            .issuer_name(_name("booking-platform local CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=_DAYS * 5))
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
            .sign(key, hashes.SHA256())
        )
        _write(self._key_path, _pem_key(key), private=True)
        _write(self.cert, cert.public_bytes(serialization.Encoding.PEM))
        return self

    def issue(
        self,
        name: str,
        hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
        client: bool = False,
        peer: bool = False,
    ) -> Issued:
        """A leaf certificate for ``name``: a server's for ``hosts`` (DNS names and addresses),
        or a client's (``client``: its common name is the principal). A ``peer`` server's
        serves for client authentication too (a broker connecting to its cluster)."""
        self.ensure()
        ca_key = serialization.load_pem_private_key(self._key_path.read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH]
                    if client
                    else [ExtendedKeyUsageOID.SERVER_AUTH]
                    + ([ExtendedKeyUsageOID.CLIENT_AUTH] if peer else [])
                ),
                critical=False,
            )
        )
        if not client:
            alt: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    alt.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        out = self.directory / name
        return Issued(
            cert=_write(out.with_suffix(".crt"), cert.public_bytes(serialization.Encoding.PEM)),
            key=_write(out.with_suffix(".key"), _pem_key(key), private=True),
        )


def readable_by(issued: Issued, uid: int, gid: int) -> Issued:
    """Hand a key to the unprivileged user a server runs as (Postgres refuses a key others
    can read, and one it cannot)."""
    for path in (issued.cert, issued.key):
        os.chown(path, uid, gid)
    return issued
