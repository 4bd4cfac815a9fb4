"""Certificates and CRLs made on the spot with cryptography, and a fixed clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = 1_764_300_000.0  # 2025-11-28 03:20:00 UTC
DAY = 86_400.0


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sở Thông tin và Truyền thông Thái Bình"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


@pytest.fixture(scope="session")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


MakeCert = Callable[[str, float, float], x509.Certificate]


@pytest.fixture(scope="session")
def make_cert(key: ec.EllipticCurvePrivateKey) -> MakeCert:
    """A certificate for ``cn`` valid from ``not_before`` to ``not_after`` (Unix times)."""

    def make(cn: str, not_before: float, not_after: float) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name("PDIC Issuing CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(at(not_before))
            .not_valid_after(at(not_after))
            .sign(key, hashes.SHA256())
        )

    return make


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


MakeCrl = Callable[[float, float], x509.CertificateRevocationList]


@pytest.fixture(scope="session")
def make_crl(key: ec.EllipticCurvePrivateKey) -> MakeCrl:
    def make(this_update: float, next_update: float) -> x509.CertificateRevocationList:
        return (
            x509.CertificateRevocationListBuilder()
            .issuer_name(name("PDIC Issuing CA"))
            .last_update(at(this_update))
            .add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(4242)
                .revocation_date(at(this_update - DAY))
                .build()
            )
            .next_update(at(next_update))
            .sign(key, hashes.SHA256())
        )

    return make
