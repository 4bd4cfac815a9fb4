"""roles/pki_cert/library/pdic_cert_state.py: when may the role skip a certificate's full path.

The module says ``ok`` only when the key, certificate and chain on the host are exactly what
the full path would produce; every other case must give a reason, or a deploy would leave a
wrong certificate in place. Certificates here are made with a throwaway CA the way the role's
request and signing tasks make them.
"""

from __future__ import annotations

import datetime as dt
import grp
import importlib.util
import os
import pwd
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location(
    "pdic_cert_state", REPO / "roles" / "pki_cert" / "library" / "pdic_cert_state.py"
)
assert _spec and _spec.loader
cert_state: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cert_state)

NOW = dt.datetime.now(dt.UTC)
CRL = "http://ca-1.lab.pdic.internal/crl/issuing.crl"
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str = "Lab Issuing CA") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=3000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _issue(
    ca: tuple[Any, x509.Certificate],
    key: Any,
    names: list[str],
    *,
    days: int = 365,
    crl: str | None = CRL,
    eku: tuple[Any, ...] = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
    serial: int = 4242,
) -> x509.Certificate:
    rsa_key = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=rsa_key,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    )
    if crl:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(ca[0], hashes.SHA256())


def _write(path: Path, data: bytes, mode: int) -> None:
    path.write_bytes(data)
    path.chmod(mode)


class Host:
    """One host's certificate directory with a single entry, written as the role writes it."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.ca = _ca()
        self.key: Any = ec.generate_private_key(ec.SECP256R1())
        self.item: dict[str, Any] = {
            "name": "site-vpubnd",
            "common_name": "vpubnd.lab.pdic.internal",
            "sans": ["www.vpubnd.lab.pdic.internal"],
            "owner": USER,
            "group": GROUP,
            "mode": "0640",
        }
        self.known = [4242]
        self.revoked: list[int] = []
        self.renew_days = 30
        self.write_key(self.key)
        self.write_cert(_issue(self.ca, self.key, self._names()))

    def _names(self) -> list[str]:
        return [self.item["common_name"], *self.item["sans"]]

    def write_key(self, key: Any, mode: int = 0o640) -> None:
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(self.dir / "site-vpubnd.key", data, mode)

    def write_cert(self, cert: x509.Certificate, chain: bytes | None = None) -> None:
        _write(self.dir / "site-vpubnd.crt", _pem(cert), 0o644)
        chain = _pem(cert) + _pem(self.ca[1]) if chain is None else chain
        _write(self.dir / "site-vpubnd.fullchain.pem", chain, 0o644)

    def params(self, key_type: str = "ecdsa-p256") -> dict[str, Any]:
        return {
            "certificates": [dict(self.item, key_type=key_type)],
            "directory": str(self.dir),
            "default_ca": "issuing",
            "default_key_type": "ecdsa-p256",
            "key_algorithms": {
                "ecdsa-p256": {"type": "ECC", "curve": "secp256r1"},
                "ecdsa-p384": {"type": "ECC", "curve": "secp384r1"},
                "rsa-3072": {"type": "RSA", "size": 3072},
            },
            "authorities": {"issuing": {"name": "issuing", "crl_url": CRL}},
            "issuers": {"issuing": _pem(self.ca[1]).decode()},
            "revoked": {"issuing": self.revoked},
            "known": {"issuing": self.known},
            "renew_days": self.renew_days,
        }

    def state(self, key_type: str = "ecdsa-p256") -> str:
        (entry,) = cert_state.entries(self.params(key_type))
        result: str = cert_state.state(entry, dt.datetime.now(dt.UTC))
        return result


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_a_certificate_as_the_role_leaves_it_is_ok(host: Host) -> None:
    assert host.state() == "ok"


def test_an_rsa_key_of_the_asked_size_is_ok(host: Host) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    host.write_key(key)
    host.write_cert(_issue(host.ca, key, host._names()))
    assert host.state("rsa-3072") == "ok"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: (h.dir / "site-vpubnd.key").unlink(), "no key"),
        (lambda h: (h.dir / "site-vpubnd.crt").unlink(), "no certificate"),
        (lambda h: (h.dir / "site-vpubnd.fullchain.pem").unlink(), "no full chain"),
        (lambda h: (h.dir / "site-vpubnd.key").chmod(0o644), "mode is not 0640"),
        (lambda h: h.item.update(mode="0600"), "mode is not 0600"),
        (lambda h: h.item.update(sans=["portal.lab.pdic.internal"]), "names differ"),
        (lambda h: h.item.update(common_name="other.lab.pdic.internal"), "subject differs"),
        (lambda h: h.revoked.append(4242), "revoked"),
        (lambda h: h.known.clear(), "not in the CA's database"),
        (lambda h: setattr(h, "renew_days", 400), "renewal due"),
    ],
    ids=[
        "key-missing",
        "cert-missing",
        "chain-missing",
        "key-mode",
        "wanted-mode",
        "sans",
        "common-name",
        "revoked",
        "unknown-to-ca",
        "renewal-due",
    ],
)
def test_anything_off_gives_a_reason(host: Host, change: Any, reason: str) -> None:
    change(host)
    assert reason in host.state()


def test_another_key_type_is_not_ok(host: Host) -> None:
    assert host.state("ecdsa-p384") == "key curve is secp256r1"
    assert host.state("rsa-3072") == "key is not an RSA key"


def test_a_certificate_for_another_key_is_not_ok(host: Host) -> None:
    host.write_key(ec.generate_private_key(ec.SECP256R1()))
    assert host.state() == "certificate is not for the key"


def test_a_certificate_from_another_ca_with_the_same_name_is_not_ok(host: Host) -> None:
    impostor = _ca("Lab Issuing CA")
    host.write_cert(_issue(impostor, host.key, host._names()))
    assert host.state() == "not signed by the issuing CA"


def test_extensions_that_differ_are_not_ok(host: Host) -> None:
    host.write_cert(_issue(host.ca, host.key, host._names(), crl=None))
    assert host.state() == "CRL distribution point differs"
    eku = (ExtendedKeyUsageOID.SERVER_AUTH,)
    host.write_cert(_issue(host.ca, host.key, host._names(), eku=eku))
    assert host.state() == "extended key usage differs"


def test_a_chain_that_is_not_certificate_then_issuer_is_not_ok(host: Host) -> None:
    cert = _issue(host.ca, host.key, host._names())
    host.write_cert(cert, chain=_pem(cert))
    assert host.state() == "full chain differs"


def test_a_file_that_does_not_parse_is_a_reason_not_a_crash(host: Host) -> None:
    (host.dir / "site-vpubnd.crt").write_text("not a certificate\n")
    assert host.state().startswith("unreadable: ")


def test_an_authority_whose_chain_was_not_read_is_not_ok(host: Host) -> None:
    params = host.params()
    params["issuers"] = {}
    (entry,) = cert_state.entries(params)
    assert cert_state.state(entry, NOW) == "the issuing CA's chain was not read"
