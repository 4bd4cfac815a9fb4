"""pdic.pki.register: what `pdic cert list` makes of the files the hosts give.

Two kinds of input: listings recorded from the lab (ca-1 with its CA certificates and CRLs,
portal-1 with its host and site certificates; tests/unit/fixtures/pki/), read at the time they
were recorded; and certificates made here with a throwaway CA, for revocation and expiry edges.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pdic.errors import CertError
from pdic.inventory import Host, load_inventory
from pdic.pki import register

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "pki"
RECORDED_AT = dt.datetime(2026, 11, 28, 5, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def _recorded(name: str) -> register.HostFiles:
    return register.parse_listing(name, (FIXTURES / f"{name}.listing").read_text())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class _CA:
    """A throwaway CA that signs certificates and CRLs."""

    def __init__(self, cn: str = "Test Issuing CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(cn)

    def issue(self, cn: str, days: float, sans: tuple[str, ...] = (), serial: int = 0) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=400))
            .not_valid_after(NOW + dt.timedelta(days=days))
        )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM)

    def crl(self, *serials: int, der: bool = False) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.name)
            .last_update(NOW - dt.timedelta(hours=1))
            .next_update(NOW + dt.timedelta(days=7))
        )
        for serial in serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(NOW - dt.timedelta(minutes=5))
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


# recorded listings -------------------------------------------------------------------------


def test_recorded_ca_host_gives_its_certificates_and_both_crls() -> None:
    files = _recorded("ca-1")
    assert sorted(files.certificates) == [
        "/etc/pdic/pki/host.crt",
        "/var/lib/pdic-ca/issuing/ca.crt",
        "/var/lib/pdic-ca/national/ca.crt",
        "/var/lib/pdic-ca/root/ca.crt",
    ]
    assert sorted(files.crls) == [
        "/var/www/pdic-ca/issuing.crl.pem",
        "/var/www/pdic-ca/root.crl.pem",
    ]


def test_recorded_register_of_the_lab() -> None:
    reg = register.build_register([_recorded("ca-1"), _recorded("portal-1")], RECORDED_AT)
    assert not reg.errors and not reg.unreadable
    by_path = {(e.host, e.path): e for e in reg.entries}
    portal = by_path[("portal-1", "/etc/pdic/pki/portal-sites.crt")]
    assert portal.subject == "CN=portal.lab.pdic.internal"
    assert "portal.lab.pdic.internal" in portal.sans and len(portal.sans) >= 2
    assert portal.issuer == "CN=PDIC Lab Issuing CA 1,O=Lab Data Integration Centre"
    assert portal.days_left in (364, 365) and portal.revoked is False
    # The issuing CA is on the root's CRL check (not revoked); the national stand-in has no CRL.
    assert by_path[("ca-1", "/var/lib/pdic-ca/issuing/ca.crt")].revoked is False
    assert by_path[("ca-1", "/var/lib/pdic-ca/national/ca.crt")].revoked is None
    # Soonest expiry first.
    assert [e.not_after for e in reg.entries] == sorted(e.not_after for e in reg.entries)
    # Serials as openssl prints them.
    assert all(len(e.serial) % 2 == 0 and e.serial == e.serial.upper() for e in reg.entries)


def test_recorded_crl_lists_the_serials_revoked_in_the_lab() -> None:
    files = _recorded("ca-1")
    revoked = register.revoked_serials(files.crls.values())
    issuing = revoked["CN=PDIC Lab Issuing CA 1,O=Lab Data Integration Centre"]
    # mon-1's host certificate was revoked (keyCompromise) before the listing was recorded.
    assert int("118D328F983A1B6BAC5B09048590ED3DCCAAC164", 16) in issuing
    assert revoked["CN=PDIC Lab Root CA,O=Lab Data Integration Centre"] == set()


# revocation and expiry ---------------------------------------------------------------------


def test_revoked_is_true_false_or_unknown() -> None:
    ca, other = _CA(), _CA("Somebody Else's CA")
    files = register.HostFiles(
        "h",
        certificates={
            "/a.crt": ca.issue("a", 100, serial=0x0A),
            "/b.crt": ca.issue("b", 100, serial=0x0B),
            "/c.crt": other.issue("c", 100, serial=0x0A),
        },
        crls={"/ca.crl.pem": ca.crl(0x0A)},
    )
    reg = register.build_register([files], NOW)
    assert {e.path: e.revoked for e in reg.entries} == {
        "/a.crt": True,
        "/b.crt": False,
        "/c.crt": None,
    }
    assert {e.path: e.serial for e in reg.entries}["/a.crt"] == "0A"


def test_a_der_crl_from_one_host_covers_certificates_of_another() -> None:
    ca = _CA()
    on_host = register.HostFiles("web", certificates={"/w.crt": ca.issue("w", 50, serial=77)})
    on_ca = register.HostFiles("ca", crls={"/issuing.crl": ca.crl(77, der=True)})
    (entry,) = register.build_register([on_host, on_ca], NOW).entries
    assert (entry.host, entry.revoked) == ("web", True)


def test_expiring_takes_exactly_those_before_the_horizon() -> None:
    ca = _CA()
    certs = {f"/{d}.crt": ca.issue(f"d{d}", d) for d in (-3, 2, 29.5, 30.5, 365)}
    entries = register.build_register([register.HostFiles("h", certs)], NOW).entries
    soon = register.expiring(entries, register.parse_duration("30d"), NOW)
    assert [e.path for e in soon] == ["/-3.crt", "/2.crt", "/29.5.crt"]
    assert [e.days_left for e in soon] == [-3, 2, 29]


def test_a_chain_file_gives_one_entry_per_certificate_and_junk_is_reported() -> None:
    ca = _CA()
    files = register.HostFiles(
        "h",
        certificates={
            "/chain.pem": ca.issue("leaf", 10, sans=("leaf.example",)) + ca.issue("mid", 20),
            "/junk.crt": b"not a certificate",
        },
    )
    reg = register.build_register([files], NOW)
    assert [(e.path, e.subject, e.sans) for e in reg.entries] == [
        ("/chain.pem", "CN=leaf", ("leaf.example",)),
        ("/chain.pem", "CN=mid", ()),
    ]
    assert reg.unreadable == {"h:/junk.crt": "not a PEM or DER certificate"}


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("2w", 14 * 86400), ("7", 7 * 86400)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert register.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "30x", "-1d", "1.5d", "d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(CertError, match=r"--expiring: .* is not a duration"):
        register.parse_duration(text)


# formats -----------------------------------------------------------------------------------


def _entries() -> tuple[register.CertificateEntry, ...]:
    return register.build_register([_recorded("portal-1")], RECORDED_AT).entries


def test_json_has_every_column() -> None:
    rows = json.loads(register.format_json(_entries()))
    assert [list(r) for r in rows] == [list(register.COLUMNS)] * len(rows)
    assert rows[0]["not_after"].endswith("Z") and isinstance(rows[0]["sans"], list)


def test_csv_round_trips() -> None:
    rows = list(csv.DictReader(io.StringIO(register.format_csv(_entries()))))
    assert len(rows) == 2 and set(rows[0]) == set(register.COLUMNS)
    assert {r["revoked"] for r in rows} == {"unknown"}  # portal-1 alone: no CRL read


def test_table_is_aligned_and_shortens_long_san_lists() -> None:
    lines = register.format_table(_entries()).splitlines()
    assert lines[0].split()[:3] == ["HOST", "PATH", "SUBJECT"]
    assert len(lines) == 3
    assert lines[0].index("SANS") == lines[1].index(lines[1].split()[3])
    assert any("(+" in line for line in lines[1:])


# reading the hosts -------------------------------------------------------------------------


def test_globs_from_the_lab_inventory() -> None:
    inv = load_inventory(REPO / "inventory" / "lab")
    assert register.certificate_globs(inv.host("db-1")) == ["/etc/pdic/pki/*.crt"]
    assert "/etc/pdic/org-signing/*.crt" in register.certificate_globs(inv.host("eoffice-1"))
    assert register.crl_globs(inv.host("ca-1")) == ["/var/www/pdic-ca/*.crl.pem"]
    assert register.crl_globs(inv.host("db-1")) == []


def test_read_script_refuses_a_path_the_shell_would_interpret() -> None:
    with pytest.raises(CertError, match="not an absolute path"):
        register.read_script(["/etc/x/*.crt; rm -rf /"], [])
    script = register.read_script(["/etc/pdic/pki/*.crt"], ["/var/www/pdic-ca/*.crl.pem"])
    assert "for f in /etc/pdic/pki/*.crt;" in script and "printf 'crl" in script


def _host(name: str, groups: tuple[str, ...] = (), **variables: Any) -> Host:
    return Host(name, "192.0.2.1", groups, variables)


class _Inv:
    def __init__(self, *hosts: Host) -> None:
        self.hosts = {h.name: h for h in hosts}

    def select(self, limit: str | None) -> list[Host]:
        if limit == "pki":
            return [h for h in self.hosts.values() if "pki" in h.groups]
        return [h for h in self.hosts.values() if limit in (None, h.name)]


def test_collect_reports_an_unreachable_host_and_reads_the_others() -> None:
    ca = _CA()
    listing = {
        "web": "cert\t/etc/pdic/pki/host.crt\t"
        + __import__("base64").b64encode(ca.issue("web", 90, serial=5)).decode(),
        "ca": "crl\t/var/www/pdic-ca/issuing.crl.pem\t"
        + __import__("base64").b64encode(ca.crl(5)).decode(),
    }

    def connect(host: Host) -> Any:
        if host.name == "down":
            raise TimeoutError("timed out")
        return SimpleNamespace(
            run=lambda script: SimpleNamespace(rc=0, stdout=listing[host.name], stderr="")
        )

    inv = _Inv(_host("web"), _host("down"), _host("ca", ("pki",)))
    reg = register.collect(inv, "web", connect, NOW)  # type: ignore[arg-type]
    # Only web's certificates, but the CA's CRL is read though ca is outside --limit.
    assert [(e.host, e.revoked) for e in reg.entries] == [("web", True)]
    full = register.collect(inv, None, connect, NOW)  # type: ignore[arg-type]
    assert full.errors == {"down": "TimeoutError: timed out"}
    assert [e.host for e in full.entries] == ["web"]


def test_collect_refuses_a_bad_glob_before_connecting() -> None:
    def connect(host: Host) -> Any:
        raise AssertionError("connected")

    inv = _Inv(_host("web", pdic_certificate_files=["etc/relative/*.crt"]))
    with pytest.raises(CertError, match="web: pdic_certificate_files: 'etc/relative/"):
        register.collect(inv, None, connect, NOW)  # type: ignore[arg-type]


def test_entries_carry_the_agency_that_owns_them() -> None:
    ca = _CA()
    b64 = __import__("base64").b64encode
    listing = "\n".join(
        f"cert\t{path}\t{b64(ca.issue(cn, 30)).decode()}"
        for path, cn in (
            ("/etc/pdic/pki/host.crt", "eoffice-1"),
            ("/etc/pdic/org-signing/so-tu-phap.crt", "Sở Tư pháp"),
            ("/etc/pdic/org-signing/old.crt", "old"),
        )
    )

    def connect(host: Host) -> Any:
        return SimpleNamespace(run=lambda script: SimpleNamespace(rc=0, stdout=listing, stderr=""))

    files = [
        {"path": "/etc/pdic/org-signing/so-tu-phap*.crt", "agency": "so-tu-phap"},
        "/etc/pdic/org-signing/*.crt",
    ]
    inv = _Inv(_host("eoffice-1", ("eoffice",), pdic_certificate_files=files))
    reg = register.collect(inv, None, connect, NOW)  # type: ignore[arg-type]
    assert {e.path: e.agency for e in reg.entries} == {
        "/etc/pdic/pki/host.crt": "",
        "/etc/pdic/org-signing/so-tu-phap.crt": "so-tu-phap",
        "/etc/pdic/org-signing/old.crt": "",
    }
    mine = register.of_agency(reg.entries, "so-tu-phap")
    assert [e.path for e in mine] == ["/etc/pdic/org-signing/so-tu-phap.crt"]
    assert json.loads(register.format_json(mine))[0]["agency"] == "so-tu-phap"
    assert register.format_table(mine).splitlines()[1].endswith("so-tu-phap")


def test_cli_lists_an_agency_s_certificates_from_its_hosts_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pdic import connect as connect_module
    from pdic.cli import main

    ca = _CA()
    b64 = __import__("base64").b64encode
    listings = {
        "eoffice-1": [
            ("/etc/pdic/pki/host.crt", "eoffice-1"),
            ("/etc/pdic/org-signing/so-tu-phap.crt", "so-tu-phap"),
            ("/etc/pdic/org-signing/so-noi-vu.crt", "so-noi-vu"),
        ],
        "portal-1": [
            ("/etc/pdic/pki/site-sotuphap.crt", "sotuphap"),
            ("/etc/pdic/pki/site-sonoivu.crt", "sonoivu"),
        ],
        "ca-1": [],
    }
    asked: list[str] = []

    def connect(host: Host, **_: Any) -> Any:
        asked.append(host.name)
        text = "\n".join(
            f"cert\t{p}\t{b64(ca.issue(cn, 30)).decode()}" for p, cn in listings[host.name]
        )
        return SimpleNamespace(run=lambda script: SimpleNamespace(rc=0, stdout=text, stderr=""))

    monkeypatch.setattr(connect_module, "testinfra_host", connect)
    lab = str(REPO / "inventory" / "lab")
    assert main(["cert", "list", "-i", lab, "--agency", "so-tu-phap", "-f", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["host"], r["path"]) for r in rows) == [
        ("eoffice-1", "/etc/pdic/org-signing/so-tu-phap.crt"),
        ("portal-1", "/etc/pdic/pki/site-sotuphap.crt"),
    ]
    assert {r["agency"] for r in rows} == {"so-tu-phap"}
    assert sorted(asked) == ["ca-1", "eoffice-1", "portal-1"]  # its hosts, and the CA's CRLs

    assert main(["cert", "list", "-i", lab, "--agency", "so-khong-co"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdic: error: no agency 'so-khong-co' in ") and err.count("\n") == 1
