"""pdic.pki.owners: which agency owns a certificate file, and the exporter's paths from it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pdic.inventory import load_inventory
from pdic.pki import owners, register

REPO = Path(__file__).resolve().parents[3]
LAB = load_inventory(REPO / "inventory" / "lab")
FILTER = REPO / "src" / "pdic" / "ansible_plugins" / "filter" / "pdic_certificates.py"


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/etc/pdic/org-signing/so-tu-phap*.crt", "/etc/pdic/org-signing/so-tu-phap.crt", True),
        ("/etc/pdic/org-signing/*.crt", "/etc/pdic/org-signing/a/b.crt", False),  # * never /
        ("/etc/pdic/org-signing/[ab]?.pem", "/etc/pdic/org-signing/a1.pem", True),
        ("/etc/pdic/pki/site-x.crt", "/etc/pdic/pki/site-x.crt", True),
        ("/etc/pdic/pki/site-x.crt", "/etc/pdic/pki/site-xy.crt", False),
    ],
)
def test_globs_match_as_the_shell_expands_them(pattern: str, path: str, matches: bool) -> None:
    assert owners.glob_match(pattern, path) is matches


def test_the_first_entry_with_an_agency_decides() -> None:
    pairs = [("/o/so-tu-phap*.crt", "so-tu-phap"), ("/o/*.crt", "so-noi-vu")]
    assert owners.agency_of("/o/so-tu-phap-2026.crt", pairs) == "so-tu-phap"
    assert owners.agency_of("/o/other.crt", pairs) == "so-noi-vu"
    assert owners.agency_of("/etc/pdic/pki/host.crt", pairs) == ""


def test_lab_owners_per_host() -> None:
    eoffice = register.certificate_owners(LAB.host("eoffice-1"))
    assert eoffice == [
        ("/etc/pdic/org-signing/so-tu-phap*.crt", "so-tu-phap"),
        ("/etc/pdic/org-signing/so-noi-vu*.crt", "so-noi-vu"),
    ]
    portal = dict(register.certificate_owners(LAB.host("portal-1")))
    assert portal["/etc/pdic/pki/site-sotuphap.crt"] == "so-tu-phap"
    assert len(portal) == len(LAB.vars["portal_sites"])  # every lab site is the CA's
    assert register.certificate_owners(LAB.host("mail-1")) == []
    assert register.agency_hosts(LAB, "so-tu-phap") == ["portal-1", "eoffice-1"]
    assert register.agency_hosts(LAB, "huyen-mau-xa-mot") == []


def test_globs_read_the_path_of_an_entry_with_an_agency() -> None:
    globs = register.certificate_globs(LAB.host("eoffice-1"))
    assert globs == [
        "/etc/pdic/pki/*.crt",
        "/etc/pdic/org-signing/so-tu-phap*.crt",
        "/etc/pdic/org-signing/so-noi-vu*.crt",
        "/etc/pdic/org-signing/*.crt",
        "/etc/pdic/org-signing/*.pem",
    ]


def test_exporter_paths_label_sites_on_portal_hosts_only() -> None:
    sites = [
        {"name": "sotuphap", "agency": "so-tu-phap"},
        {"name": "own", "agency": "so-noi-vu", "tls": {"certificate": "/a", "key": "/b"}},
    ]
    files = ["/var/lib/pdic-ca/*/ca.crt", {"path": "/o/x*.crt", "agency": "so-noi-vu"}]
    names = ["host", "site-sotuphap", "site-own", "host"]
    assert owners.exporter_certificates(names, "/etc/pdic/pki/", files, sites, ["portal"]) == [
        "/etc/pdic/pki/host.crt",
        {"path": "/etc/pdic/pki/site-sotuphap.crt", "agency": "so-tu-phap"},
        "/etc/pdic/pki/site-own.crt",
        "/var/lib/pdic-ca/*/ca.crt",
        {"path": "/o/x*.crt", "agency": "so-noi-vu"},
    ]
    # An application host's site-<name> certificate is no portal site's: the centre's own.
    assert owners.exporter_certificates(["site-sotuphap"], "/p", [], sites, ["eoffice"]) == [
        "/p/site-sotuphap.crt"
    ]


def test_the_ansible_filter_is_the_same_function() -> None:
    spec = importlib.util.spec_from_file_location("pdic_certificates_filter", FILTER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = module.FilterModule().filters()["pdic_exporter_certificates"]
    host = LAB.host("eoffice-1")
    files = host.get("pdic_certificate_files")
    assert found(["host"], "/etc/pdic/pki", files, None, host.groups) == [
        "/etc/pdic/pki/host.crt",
        {"path": "/etc/pdic/org-signing/so-tu-phap*.crt", "agency": "so-tu-phap"},
        {"path": "/etc/pdic/org-signing/so-noi-vu*.crt", "agency": "so-noi-vu"},
        "/etc/pdic/org-signing/*.crt",
        "/etc/pdic/org-signing/*.pem",
    ]
