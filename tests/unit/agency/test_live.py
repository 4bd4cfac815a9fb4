"""pdic.agency.live with fake transports: what `pdic agency show` says when the hosts answer,
when they do not (``unknown (host X did not answer: ...)``, never a traceback), and that
``--offline`` asks nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pdic.agency import index, live
from pdic.cli import main
from pdic.connect import ConnectionFailed
from pdic.inventory import Host, load_inventory
from pdic.monitoring.status import StatusError

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventory" / "lab"
INV = load_inventory(LAB)
FOUND = index.index(INV)
AGENCY = FOUND.get("so-tu-phap")
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
ISSUER = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PDIC Lab Issuing CA 1")])
CA_KEY = ec.generate_private_key(ec.SECP256R1())
DKIM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _pem(cn: str, serial: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ISSUER)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - dt.timedelta(days=10))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .sign(CA_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _crl(*serials: int) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ISSUER)
        .last_update(NOW - dt.timedelta(hours=1))
        .next_update(NOW + dt.timedelta(days=7))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW).build()
        )
    return builder.sign(CA_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# What each host prints for each command pdic sends it (recorded shapes, made here).
LISTINGS = {
    "portal-1": f"cert\t/etc/pdic/pki/site-sotuphap.crt\t{_b64(_pem('sotuphap', 11))}\n"
    f"cert\t/etc/pdic/pki/site-sonoivu.crt\t{_b64(_pem('sonoivu', 12))}\n",
    "eoffice-1": f"cert\t/etc/pdic/org-signing/so-tu-phap.crt\t{_b64(_pem('so-tu-phap', 13))}\n",
    "ca-1": f"crl\t/var/www/pdic-ca/issuing.crl.pem\t{_b64(_crl(13))}\n",
}
MAILBOXES = (
    "haivd@sotuphap.lab.pdic.internal\t5G\tactive\n"
    "hoaptt@sotuphap.lab.pdic.internal\t2G\tactive\n"
    "hungdq@sotuphap.lab.pdic.internal\t2G\tdisabled\n"
    "annv@lab.pdic.internal\t5G\tactive\n"
)
DKIM = "dkim\tsotuphap.lab.pdic.internal\tpdic\t" + _b64(
    DKIM_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)
ROOT = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"


class FakeHost:
    def __init__(self, name: str, down: set[str]) -> None:
        self.name = name
        self.down = down

    def run(self, command: str, *args: str) -> Any:
        if self.name in self.down:
            raise ConnectionFailed(f"{self.name}: cannot connect to 10.251.0.99: timed out")
        if command.startswith("cat -- "):
            assert args == ("/var/www/pdic-ca/root.crt",)
            return SimpleNamespace(rc=0, stdout=ROOT, stderr="")
        if "pdic-mail-sync list" in command:
            return SimpleNamespace(rc=0, stdout=MAILBOXES, stderr="")
        if "openssl pkey" in command:
            return SimpleNamespace(rc=0, stdout=DKIM + "\n", stderr="")
        return SimpleNamespace(rc=0, stdout=LISTINGS.get(self.name, ""), stderr="")


TARGETS = {
    "activeTargets": [
        {
            "labels": {"job": "blackbox_https", "site": "sotuphap", "agency": "so-tu-phap"},
            "scrapeUrl": "http://127.0.0.1:9115/probe?target=https://sotuphap.lab.pdic.internal/",
            "health": "up",
            "lastError": "",
        },
        {"labels": {"job": "blackbox_https", "site": "sonoivu"}, "health": "up"},
    ]
}
ALERTS = {
    "alerts": [
        {
            "labels": {
                "alertname": "TLSCertificateExpiring14d",
                "agency": "so-tu-phap",
                "severity": "warning",
            },
            "annotations": {
                "summary": "Certificate /etc/pdic/org-signing/so-tu-phap.crt\n of agency so-tu-phap"
            },
            "state": "firing",
        },
        {
            "labels": {"alertname": "SiteDown", "site": "sotuphap", "severity": "critical"},
            "annotations": {"summary": "Site sotuphap does not answer"},
            "state": "pending",
        },
        {"labels": {"alertname": "SiteDown", "site": "sonoivu"}, "state": "firing"},
        {"labels": {"alertname": "Watchdog", "severity": "none"}, "state": "firing"},
    ]
}


def _readers(
    down: set[str] = frozenset(),  # type: ignore[assignment]
    https: Any = None,
    fetch: Any = None,
) -> live.Readers:
    asked: list[tuple[str, str]] = []

    def answer(address: str, port: int, name: str, root: bytes, timeout: float) -> live.Answer:
        asked.append((address, name))
        assert root == ROOT.encode() and port == 443 and timeout == 3
        return live.Answer(200, "Feb 26 12:00:00 2027 GMT")

    def prometheus(path: str, params: dict[str, str]) -> Any:
        return TARGETS if path == "/api/v1/targets" else ALERTS

    return live.Readers(
        connect=lambda host: FakeHost(host.name, set(down)),
        https=https or answer,
        fetch=fetch or prometheus,
        timeout=3,
        now=NOW,
    )


def test_everything_answers() -> None:
    found = live.read(INV, AGENCY, _readers())
    assert found["sites"] == [
        {
            "site": "sotuphap",
            "hostname": "sotuphap.lab.pdic.internal",
            "host": "portal-1",
            "state": "answers 200, certificate verified, expires Feb 26 12:00:00 2027 GMT",
        }
    ]
    # Its own certificates only (not sonoivu's), revocation from the CA's CRL.
    assert sorted((c["host"], c["path"], c["revoked"]) for c in found["certificates"]) == [
        ("eoffice-1", "/etc/pdic/org-signing/so-tu-phap.crt", "yes"),
        ("portal-1", "/etc/pdic/pki/site-sotuphap.crt", "no"),
    ]
    assert found["mailboxes"] == [
        {
            "host": "mail-1",
            "state": "3 of 4 mailboxes on the host, 1 disabled",
            "missing": ["lanntk@sotuphap.lab.pdic.internal"],
        }
    ]
    assert found["dkim"] == [
        {"domain": "sotuphap.lab.pdic.internal", "host": "mail-1", "state": "key on the host"}
    ]
    assert (
        "pdic._domainkey" in found["dns_records"] and "v=DKIM1; k=rsa; p=" in (found["dns_records"])
    )
    assert found["probes"] == [
        {
            "site": "sotuphap",
            "job": "blackbox_https",
            "target": TARGETS["activeTargets"][0]["scrapeUrl"],
            "state": "up",
        }
    ]
    assert [(a["alert"], a["state"]) for a in found["alerts"]] == [
        ("TLSCertificateExpiring14d", "firing"),
        ("SiteDown", "pending"),
    ]
    assert found["alerts"][0]["summary"] == (
        "Certificate /etc/pdic/org-signing/so-tu-phap.crt of agency so-tu-phap"
    )


def test_hosts_that_do_not_answer_are_unknown_never_a_traceback() -> None:
    def silent(*args: Any) -> live.Answer:
        raise TimeoutError("timed out")

    def no_prometheus(path: str, params: dict[str, str]) -> Any:
        raise StatusError("cannot reach Prometheus at http://10.251.0.61:9090: timed out")

    found = live.read(
        INV, AGENCY, _readers(down={"mail-1", "eoffice-1"}, https=silent, fetch=no_prometheus)
    )
    assert found["sites"][0]["state"] == (
        "unknown (host portal-1 did not answer: TimeoutError: timed out)"
    )
    certs = {c["host"]: c for c in found["certificates"]}
    assert certs["eoffice-1"]["state"].startswith("unknown (host eoffice-1 did not answer: ")
    assert certs["portal-1"]["revoked"] == "no"  # the CA answered
    assert found["mailboxes"][0]["state"].startswith("unknown (host mail-1 did not answer: ")
    assert found["dkim"][0]["state"].startswith("unknown (host mail-1 did not answer: ")
    assert found["dns_records"] == ""
    for key in ("probes", "alerts"):
        assert found[key].startswith("unknown (host mon-1 did not answer: cannot reach Prometheus")


def test_without_the_ca_host_nothing_is_verified_or_known_revoked() -> None:
    found = live.read(INV, AGENCY, _readers(down={"ca-1"}))
    assert found["sites"][0]["state"].startswith("unknown (host ca-1 did not answer: ")
    assert {c["revoked"] for c in found["certificates"]} == {
        "unknown (host ca-1 did not answer: ConnectionFailed: cannot connect to 10.251.0.99: "
        "timed out)"
    }


def test_a_certificate_that_does_not_verify_is_said() -> None:
    def unverified(*args: Any) -> live.Answer:
        raise live.Unverified("Hostname mismatch, certificate is not valid for 'x'")

    found = live.read(INV, AGENCY, _readers(https=unverified))
    assert found["sites"][0]["state"] == (
        "refused: its certificate for sotuphap.lab.pdic.internal does not verify "
        "(Hostname mismatch, certificate is not valid for 'x')"
    )


def test_an_agency_with_nothing_live_reads_nothing() -> None:
    def refuse(host: Host) -> Any:
        raise AssertionError(f"asked {host.name}")

    readers = live.Readers(connect=refuse, https=lambda *a: live.Answer(200), fetch=None)
    found = live.read(
        INV,
        FOUND.get("vu-thu") if False else index.Agency("x", "X", "commune", None, None),
        readers,
    )
    assert found == {
        "sites": [],
        "certificates": [],
        "mailboxes": [],
        "dkim": [],
        "probes": [],
        "alerts": "unknown (no monitoring host)",
        "dns_records": "",
    }


def test_show_prints_the_live_section(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(live, "readers", lambda inventory, timeout: _readers())
    assert main(["agency", "show", "so-tu-phap", "-i", str(LAB), "--timeout", "3"]) == 0
    out = capsys.readouterr().out
    assert (
        "live:\n  sites:\n    sotuphap (sotuphap.lab.pdic.internal) on portal-1: answers 200" in out
    )
    assert "  mailboxes:\n    mail-1: 3 of 4 mailboxes on the host, 1 disabled; missing: " in out
    assert "  dkim:\n    sotuphap.lab.pdic.internal on mail-1: key on the host\n" in out
    assert "\nDNS records to publish:\n" in out and "$ORIGIN sotuphap.lab.pdic.internal." in out
    assert main(["agency", "show", "so-tu-phap", "-i", str(LAB), "-f", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["live"]["probes"][0]["state"] == "up"


def test_offline_asks_no_host(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a live read under --offline")

    monkeypatch.setattr(live, "readers", refuse)
    assert main(["agency", "show", "so-tu-phap", "-i", str(LAB), "--offline"]) == 0
    assert "live:" not in capsys.readouterr().out


@pytest.mark.parametrize("timeout", ["0", "-1", "301"])
def test_a_bad_timeout_is_refused(timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agency", "show", "so-tu-phap", "-i", str(LAB), "--timeout", timeout]) == 2
    assert "--timeout: " in capsys.readouterr().err


# -- the real TLS request, against a server on this machine -----------------------------------


def _tls_pair(tmp_path: Path) -> tuple[bytes, Path, Path]:
    """A root, and a certificate and key for site.example signed by it (files for ssl)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site.example")]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=10))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("site.example")]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "site.crt", tmp_path / "site.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return root.public_bytes(serialization.Encoding.PEM), cert_file, key_file


def test_https_get_verifies_against_the_root_only(tmp_path: Path) -> None:
    import socket
    import ssl
    import threading

    root, cert_file, key_file = _tls_pair(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        for _ in range(3):
            conn, _ = server.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    answer = live.https_get("127.0.0.1", port, "site.example", root, 5)
    assert answer.status == 503 and answer.not_after.endswith("GMT")
    with pytest.raises(live.Unverified, match=r"Hostname mismatch|doesn.t match"):
        live.https_get("127.0.0.1", port, "other.example", root, 5)
    (tmp_path / "other").mkdir()
    other_root = _tls_pair(tmp_path / "other")[0]
    with pytest.raises(live.Unverified):  # signed by a root that is not the centre's
        live.https_get("127.0.0.1", port, "site.example", other_root, 5)
    server.close()
    closed = socket.create_server(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    with pytest.raises(OSError):
        live.https_get("127.0.0.1", free, "site.example", root, 5)
