"""CertificateCollector and CrlCollector on files made in the test."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import CollectorRegistry, generate_latest

from pdic.exporter import pki
from pdic.exporter.pki import CertificateCollector, CrlCollector, CrlInfo, serial_hex
from pdic.exporter.sources import ExporterError

from .conftest import DAY, NOW, MakeCert, MakeCrl, at, name, pem, write

PORTAL = "CN=portal.thaibinh.gov.vn,O=Sở Thông tin và Truyền thông Thái Bình,C=VN"
MAIL = "CN=mail.thaibinh.gov.vn,O=Sở Thông tin và Truyền thông Thái Bình,C=VN"
CA = "CN=PDIC Issuing CA,O=Sở Thông tin và Truyền thông Thái Bình,C=VN"


def registry_of(collector: object) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)  # type: ignore[arg-type]
    return registry


def test_expired_and_expiring_certificates(tmp_path: Path, make_cert: MakeCert) -> None:
    expired = write(
        tmp_path / "mail.pem",
        pem(make_cert("mail.thaibinh.gov.vn", NOW - 400 * DAY, NOW - 5 * DAY)),
    )
    soon = write(
        tmp_path / "portal.pem",
        pem(make_cert("portal.thaibinh.gov.vn", NOW - 80 * DAY, NOW + 10 * DAY)),
    )
    reg = registry_of(CertificateCollector([expired, soon], now=lambda: NOW))

    def value(name: str, path: str, subject: str) -> float | None:
        return reg.get_sample_value(name, {"path": path, "subject": subject, "agency": ""})

    assert value("pdic_cert_expiry_seconds", expired, MAIL) == -5 * DAY
    assert value("pdic_cert_expiry_seconds", soon, PORTAL) == 10 * DAY
    assert value("pdic_cert_not_after_timestamp_seconds", soon, PORTAL) == NOW + 10 * DAY
    assert value("pdic_cert_not_before_timestamp_seconds", soon, PORTAL) == NOW - 80 * DAY


def test_expiry_follows_the_clock(tmp_path: Path, make_cert: MakeCert) -> None:
    path = write(tmp_path / "c.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    clock = [NOW]
    reg = registry_of(CertificateCollector([path], now=lambda: clock[0]))
    labels = {"path": path, "subject": PORTAL, "agency": ""}
    assert reg.get_sample_value("pdic_cert_expiry_seconds", labels) == DAY
    clock[0] += 2 * DAY
    assert reg.get_sample_value("pdic_cert_expiry_seconds", labels) == -DAY


def test_an_agency_s_certificates_carry_its_agency_label(
    tmp_path: Path, make_cert: MakeCert
) -> None:
    org = tmp_path / "org"
    org.mkdir()
    own = write(org / "so-tu-phap-signing.crt", pem(make_cert("Sở Tư pháp", NOW, NOW + DAY)))
    other = write(org / "unknown.crt", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    site = write(
        tmp_path / "site-sotuphap.crt", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + 2 * DAY))
    )
    centre = write(
        tmp_path / "host.crt", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + 3 * DAY))
    )
    paths = [centre, site, str(org / "so-tu-phap*.crt"), str(org / "*.crt")]
    agencies = {site: "so-tu-phap", str(org / "so-tu-phap*.crt"): "so-tu-phap"}
    reg = registry_of(CertificateCollector(paths, now=lambda: NOW, agencies=agencies))
    subject = "CN=Sở Tư pháp,O=Sở Thông tin và Truyền thông Thái Bình,C=VN"

    def agency(path: str, cn: str) -> str | None:
        for value in ("so-tu-phap", ""):
            labels = {"path": path, "subject": cn, "agency": value}
            if reg.get_sample_value("pdic_cert_expiry_seconds", labels) is not None:
                return value
        return None

    # The first pattern that gives a file decides: the agency's glob before the catch-all.
    assert agency(own, subject) == "so-tu-phap"
    assert agency(site, PORTAL) == "so-tu-phap"
    # The centre's own certificates, and a file only the catch-all gives: an empty label.
    assert agency(centre, PORTAL) == ""
    assert agency(other, PORTAL) == ""
    info = next(s for s in reg.collect() if s.name == "pdic_cert_info").samples
    assert {s.labels["agency"] for s in info} == {"so-tu-phap", ""}
    assert all(set(s.labels) == {"path", "subject", "agency", "issuer", "serial"} for s in info)


def test_chain_gives_one_series_per_certificate(tmp_path: Path, make_cert: MakeCert) -> None:
    leaf = make_cert("portal.thaibinh.gov.vn", NOW, NOW + 30 * DAY)
    issuing = make_cert("PDIC Issuing CA", NOW, NOW + 900 * DAY)
    path = write(tmp_path / "fullchain.pem", pem(leaf, issuing))
    reg = registry_of(CertificateCollector([path], now=lambda: NOW))
    assert (
        reg.get_sample_value(
            "pdic_cert_expiry_seconds", {"path": path, "subject": PORTAL, "agency": ""}
        )
        == 30 * DAY
    )
    assert (
        reg.get_sample_value(
            "pdic_cert_expiry_seconds", {"path": path, "subject": CA, "agency": ""}
        )
        == 900 * DAY
    )


def test_same_subject_twice_reports_the_earlier_expiry(tmp_path: Path, make_cert: MakeCert) -> None:
    old = make_cert("portal.thaibinh.gov.vn", NOW - 300 * DAY, NOW + 3 * DAY)
    new = make_cert("portal.thaibinh.gov.vn", NOW, NOW + 90 * DAY)
    path = write(tmp_path / "both.pem", pem(new, old))
    reg = registry_of(CertificateCollector([path], now=lambda: NOW))
    text = generate_latest(reg).decode()
    assert text.count("pdic_cert_expiry_seconds{") == 1
    assert (
        reg.get_sample_value(
            "pdic_cert_expiry_seconds", {"path": path, "subject": PORTAL, "agency": ""}
        )
        == 3 * DAY
    )


def test_der_certificate(tmp_path: Path, make_cert: MakeCert) -> None:
    cert = make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)
    path = write(tmp_path / "c.der", cert.public_bytes(serialization.Encoding.DER))
    reg = registry_of(CertificateCollector([path], now=lambda: NOW))
    assert (
        reg.get_sample_value(
            "pdic_cert_expiry_seconds", {"path": path, "subject": PORTAL, "agency": ""}
        )
        == DAY
    )


def test_glob_expands_at_each_scrape(tmp_path: Path, make_cert: MakeCert) -> None:
    reg = registry_of(CertificateCollector([str(tmp_path / "*.pem")], now=lambda: NOW))
    assert "pdic_cert_expiry_seconds{" not in generate_latest(reg).decode()
    path = write(tmp_path / "a.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    assert (
        reg.get_sample_value(
            "pdic_cert_expiry_seconds", {"path": path, "subject": PORTAL, "agency": ""}
        )
        == DAY
    )
    os.unlink(path)
    assert (
        reg.get_sample_value(
            "pdic_cert_expiry_seconds", {"path": path, "subject": PORTAL, "agency": ""}
        )
        is None
    )


def test_glob_match_gone_before_it_is_read_is_skipped(
    tmp_path: Path, make_cert: MakeCert, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    gone = str(tmp_path / "b.pem")
    monkeypatch.setattr(pki, "expand_paths", lambda patterns: {path: False, gone: False})
    reg = registry_of(CertificateCollector([str(tmp_path / "*.pem")], now=lambda: NOW))
    text = generate_latest(reg).decode()
    assert text.count("pdic_cert_expiry_seconds{") == 1


def test_changed_file_is_parsed_again(tmp_path: Path, make_cert: MakeCert) -> None:
    path = tmp_path / "c.pem"
    write(path, pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    reg = registry_of(CertificateCollector([str(path)], now=lambda: NOW))
    labels = {"path": str(path), "subject": PORTAL, "agency": ""}
    assert reg.get_sample_value("pdic_cert_expiry_seconds", labels) == DAY
    renewed = tmp_path / "c.pem.new"
    write(renewed, pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + 90 * DAY)))
    os.replace(renewed, path)
    assert reg.get_sample_value("pdic_cert_expiry_seconds", labels) == 90 * DAY


def test_unchanged_file_is_not_parsed_again(
    tmp_path: Path, make_cert: MakeCert, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "c.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    parsed = []
    real = pki.parse_certificates

    def counting(data: bytes) -> tuple[pki.CertificateInfo, ...]:
        parsed.append(data)
        return real(data)

    monkeypatch.setattr(pki, "parse_certificates", counting)
    reg = registry_of(CertificateCollector([path], now=lambda: NOW))
    for _ in range(3):
        generate_latest(reg)
    assert len(parsed) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "c.pem"),
        (b"not a certificate\n", "c.pem"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "c.pem"),
        (b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n", "c.pem"),
    ],
    ids=["empty", "text", "key-only", "bad-base64"],
)
def test_unparsable_certificate_fails_the_scrape(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = write(tmp_path / "c.pem", content)
    reg = registry_of(CertificateCollector([path], now=lambda: NOW))
    with pytest.raises(ExporterError, match=message):
        generate_latest(reg)


def test_missing_literal_path_fails_the_scrape(tmp_path: Path) -> None:
    reg = registry_of(CertificateCollector([str(tmp_path / "gone.pem")], now=lambda: NOW))
    with pytest.raises(ExporterError, match=r"gone\.pem: No such file"):
        generate_latest(reg)


def test_directory_instead_of_file_fails_the_scrape(tmp_path: Path) -> None:
    reg = registry_of(CertificateCollector([str(tmp_path)], now=lambda: NOW))
    with pytest.raises(ExporterError, match="Is a directory"):
        generate_latest(reg)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_fails_the_scrape(tmp_path: Path, make_cert: MakeCert) -> None:
    path = write(tmp_path / "c.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    os.chmod(path, 0)
    reg = registry_of(CertificateCollector([path], now=lambda: NOW))
    with pytest.raises(ExporterError, match="Permission denied"):
        generate_latest(reg)


def test_crl_next_update(tmp_path: Path, make_crl: MakeCrl) -> None:
    crl = make_crl(NOW - DAY, NOW + 6 * DAY)
    path = write(tmp_path / "issuing.crl", crl.public_bytes(serialization.Encoding.PEM))
    der = write(tmp_path / "issuing.der.crl", crl.public_bytes(serialization.Encoding.DER))
    reg = registry_of(CrlCollector([str(tmp_path / "*.crl")], now=lambda: NOW))
    for p in (path, der):
        labels = {"path": p, "issuer": CA}
        assert reg.get_sample_value("pdic_crl_next_update_seconds", labels) == 6 * DAY
        assert reg.get_sample_value("pdic_crl_this_update_timestamp_seconds", labels) == NOW - DAY


def test_crl_past_next_update_is_negative(tmp_path: Path, make_crl: MakeCrl) -> None:
    crl = make_crl(NOW - 8 * DAY, NOW - DAY)
    path = write(tmp_path / "issuing.crl", crl.public_bytes(serialization.Encoding.PEM))
    reg = registry_of(CrlCollector([path], now=lambda: NOW))
    assert (
        reg.get_sample_value("pdic_crl_next_update_seconds", {"path": path, "issuer": CA}) == -DAY
    )


def test_crl_without_next_update_is_infinite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cryptography cannot build such a CRL, so the parsed result stands in for one
    monkeypatch.setattr(pki, "parse_crl", lambda data: CrlInfo(CA, NOW - DAY, None))
    path = write(tmp_path / "old.crl", b"stand-in")
    reg = registry_of(CrlCollector([path], now=lambda: NOW))
    value = reg.get_sample_value("pdic_crl_next_update_seconds", {"path": path, "issuer": CA})
    assert value is not None and math.isinf(value) and value > 0


def test_unparsable_crl_fails_the_scrape(tmp_path: Path, make_cert: MakeCert) -> None:
    path = write(
        tmp_path / "cert-not-crl.crl", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY))
    )
    reg = registry_of(CrlCollector([path], now=lambda: NOW))
    with pytest.raises(ExporterError, match=r"cert-not-crl\.crl"):
        generate_latest(reg)


def test_concurrent_scrapes_while_files_come_and_go(tmp_path: Path, make_cert: MakeCert) -> None:
    data = pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY))
    for i in range(50):
        write(tmp_path / f"{i:02d}.pem", data)
    reg = registry_of(CertificateCollector([str(tmp_path / "*.pem")], now=lambda: NOW))
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            for _ in range(20):
                generate_latest(reg)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scrape) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(50, 80):
        # As pki_cert (Ansible) writes them: whole, by rename; a half-written file is another
        # fault (it fails the scrape: test_unparsable_certificate_fails_the_scrape).
        write(tmp_path / f"{i:02d}.tmp", data)
        os.replace(tmp_path / f"{i:02d}.tmp", tmp_path / f"{i:02d}.pem")
        os.unlink(tmp_path / f"{i - 50:02d}.pem")
    for t in threads:
        t.join()
    assert errors == []
    assert generate_latest(reg).decode().count("pdic_cert_expiry_seconds{") == 50


@pytest.mark.parametrize(
    ("number", "text"),
    [(0, "00"), (15, "0F"), (255, "FF"), (256, "0100"), (4242, "1092"), (-4242, "-1092")],
)
def test_serial_numbers_are_written_as_openssl_writes_them(number: int, text: str) -> None:
    assert serial_hex(number) == text


def test_certificate_info_names_its_issuer_and_serial(tmp_path: Path, make_cert: MakeCert) -> None:
    cert = make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)
    path = write(tmp_path / "c.pem", pem(cert))
    reg = registry_of(CertificateCollector([path], now=lambda: NOW))
    serial = serial_hex(cert.serial_number)
    labels = {"path": path, "subject": PORTAL, "agency": "", "issuer": CA, "serial": serial}
    assert reg.get_sample_value("pdic_cert_info", labels) == 1
    assert generate_latest(reg).decode().count("pdic_cert_info{") == 1
    openssl = shutil.which("openssl")
    if openssl is not None:
        out = subprocess.run(
            [openssl, "x509", "-noout", "-serial", "-in", path],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == f"serial={serial}"


def test_crl_lists_every_revoked_serial(tmp_path: Path, make_crl: MakeCrl) -> None:
    crl = make_crl(NOW - DAY, NOW + 6 * DAY)
    path = write(tmp_path / "issuing.crl", crl.public_bytes(serialization.Encoding.DER))
    reg = registry_of(CrlCollector([path], now=lambda: NOW))
    labels = {"path": path, "issuer": CA, "serial": serial_hex(4242)}
    assert reg.get_sample_value("pdic_crl_revoked_certificate_info", labels) == 1
    assert generate_latest(reg).decode().count("pdic_crl_revoked_certificate_info{") == 1


def test_a_crl_without_revocations_lists_none(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name("PDIC Issuing CA"))
        .last_update(at(NOW - DAY))
        .next_update(at(NOW + DAY))
        .sign(key, hashes.SHA256())
    )
    path = write(tmp_path / "root.crl", crl.public_bytes(serialization.Encoding.PEM))
    reg = registry_of(CrlCollector([path], now=lambda: NOW))
    text = generate_latest(reg).decode()
    assert "pdic_crl_revoked_certificate_info{" not in text
    assert reg.get_sample_value("pdic_crl_next_update_seconds", {"path": path, "issuer": CA}) == DAY


def test_a_revoked_certificate_and_its_crl_entry_share_issuer_and_serial(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, make_crl: MakeCrl
) -> None:
    """The alert joins the two series on (issuer, serial): their values must be equal."""
    revoked = (
        x509.CertificateBuilder()
        .subject_name(name("portal.thaibinh.gov.vn"))
        .issuer_name(name("PDIC Issuing CA"))
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(at(NOW - DAY))
        .not_valid_after(at(NOW + 90 * DAY))
        .sign(key, hashes.SHA256())
    )
    cert_path = write(tmp_path / "host.crt", pem(revoked))
    crl_path = write(
        tmp_path / "issuing.crl", make_crl(NOW, NOW + DAY).public_bytes(serialization.Encoding.PEM)
    )
    certs = registry_of(CertificateCollector([cert_path], now=lambda: NOW))
    crls = registry_of(CrlCollector([crl_path], now=lambda: NOW))

    def keys(registry: CollectorRegistry, metric: str) -> set[tuple[str, str]]:
        return {
            (s.labels["issuer"], s.labels["serial"])
            for family in registry.collect()
            for s in family.samples
            if s.name == metric
        }

    assert keys(certs, "pdic_cert_info") == keys(crls, "pdic_crl_revoked_certificate_info")
    assert keys(certs, "pdic_cert_info") == {(CA, "1092")}
