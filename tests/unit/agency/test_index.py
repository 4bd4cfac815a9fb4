"""pdic agency list and show over inventory/lab and inventory/thaibinh (no host is reached)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from pathlib import Path

import pytest

from pdic.agency import index
from pdic.cli import main
from pdic.errors import AgencyError
from pdic.inventory import load_inventory

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventory" / "lab"
THAIBINH = REPO / "inventory" / "thaibinh"


@pytest.fixture(scope="module")
def lab() -> index.Index:
    return index.index(load_inventory(LAB))


@pytest.fixture(scope="module")
def thaibinh() -> index.Index:
    return index.index(load_inventory(THAIBINH))


def test_every_agency_of_the_lab_is_indexed_in_inventory_order(lab: index.Index) -> None:
    ids = [a["id"] for a in load_inventory(LAB).vars["pdic_agencies"]]
    assert list(lab.agencies) == ids
    assert lab.agencies["huyen-mau"].children == ["huyen-mau-xa-mot"]


def test_an_agency_gathers_its_site_mail_and_certificate(lab: index.Index) -> None:
    agency = lab.get("so-tu-phap")
    assert agency.row() == {
        "id": "so-tu-phap",
        "name": "Sở Tư pháp",
        "tier": "province",
        "parent": "ubnd-tinh",
        "sites": ["sotuphap"],
        "mail_domain": "sotuphap.lab.pdic.internal",
        "mailboxes": 4,
        "certificates": 2,
    }
    record = index.describe(lab, agency)
    assert record["sites"] == [
        {
            "name": "sotuphap",
            "hostname": "sotuphap.lab.pdic.internal",
            "title": "Cổng thông tin điện tử Sở Tư pháp tỉnh Thái Bình",
            "tls": "internal",
            "served_by": ["portal-1"],
        }
    ]
    assert record["mail_domains"] == [{"name": "sotuphap.lab.pdic.internal", "host": "mail-1"}]
    assert [a["address"] for a in record["aliases"]] == ["lanhdao@sotuphap.lab.pdic.internal"]
    assert record["certificates"] == [
        {
            "name": "site-sotuphap",
            "site": "sotuphap",
            "source": "internal",
            "path": "/etc/pdic/pki/site-sotuphap.crt",
            "hosts": ["portal-1"],
            "not_after": None,
            "note": "on the portal hosts only",
        },
        {
            "name": "so-tu-phap*.crt",
            "site": "",
            "source": "organisation",
            "path": "/etc/pdic/org-signing/so-tu-phap*.crt",
            "hosts": ["eoffice-1"],
            "not_after": None,
            "note": "placed by hand on eoffice-1",
        },
    ]
    assert record["applications"] == []
    assert "live" not in record


def test_a_live_function_adds_its_section(lab: index.Index) -> None:
    agency = lab.get("so-tu-phap")
    record = index.describe(lab, agency, live=lambda a: {"site_answers": a.id == "so-tu-phap"})
    assert record["live"] == {"site_answers": True}
    assert "live:\n  site_answers: True\n" in index.format_show(record, "text")


def test_unknown_agency_is_an_error(lab: index.Index) -> None:
    with pytest.raises(AgencyError, match="no agency 'nosuch'"):
        lab.get("nosuch")


def test_thaibinh_counts_match_the_inventory(thaibinh: index.Index) -> None:
    inv = thaibinh.inventory
    agencies = thaibinh.agencies.values()
    assert len(thaibinh.agencies) == 788
    assert sum(len(a.mailboxes) for a in agencies) == len(inv.vars["mail_mailboxes"]) == 6000
    assert sum(len(a.sites) for a in agencies) == len(inv.vars["portal_sites"]) == 27
    assert sum(len(a.mail_domains) for a in agencies) == len(inv.vars["mail_domains"]) == 28
    assert [a.id for a in index.select(thaibinh, "province")] == [
        a["id"] for a in inv.vars["pdic_agencies"] if a["tier"] == "province"
    ]
    served = index.describe(thaibinh, thaibinh.get("so-noi-vu"))["sites"][0]["served_by"]
    assert served == list(inv.groups["portal"])


def test_listing_thaibinh_has_a_line_per_agency(thaibinh: index.Index) -> None:
    found = index.index(thaibinh.inventory)
    text = index.format_list(index.select(found, None), "table")
    assert len(text.splitlines()) == 789


def test_list_formats_agree(lab: index.Index) -> None:
    agencies = index.select(lab, "district")
    rows = json.loads(index.format_list(agencies, "json"))
    table = list(csv.DictReader(io.StringIO(index.format_list(agencies, "csv"))))
    assert [r["id"] for r in rows] == [r["id"] for r in table] == [a.id for a in agencies]
    assert table[0]["mailboxes"] == str(rows[0]["mailboxes"])
    lines = index.format_list(agencies, "table").splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "TIER"]
    assert len(lines) == len(agencies) + 1


def test_a_site_of_its_own_certificate_shows_its_expiry(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "sonoivu.example")])
    not_after = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "site.crt"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    inv = tmp_path / "inv"
    shutil.copytree(LAB, inv)
    province = inv / "group_vars" / "all" / "province.yml"
    text = province.read_text(encoding="utf-8")
    own = (
        f"    agency: so-noi-vu\n    tls:\n      certificate: {pem}\n"
        "      key: /etc/ssl/private/x.key\n"
    )
    province.write_text(text.replace("    agency: so-noi-vu\n", own, 1), encoding="utf-8")
    lost = text.replace("    agency: so-noi-vu\n", own.replace(str(pem), "/nowhere.crt"), 1)
    found = index.index(load_inventory(inv))
    cert_record, organisation = index.describe(found, found.get("so-noi-vu"))["certificates"]
    assert organisation["source"] == "organisation"
    assert cert_record["source"] == "files"
    assert cert_record["not_after"] == not_after.isoformat()
    province.write_text(lost, encoding="utf-8")
    found = index.index(load_inventory(inv))
    cert_record, organisation = index.describe(found, found.get("so-noi-vu"))["certificates"]
    assert organisation["source"] == "organisation"
    assert cert_record["not_after"] is None
    assert cert_record["note"].startswith("not readable here")


def test_cli_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agency", "list", "-i", str(LAB), "--tier", "commune", "-f", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["huyen-mau-xa-mot"]
    assert main(["agency", "show", "so-tu-phap", "-i", str(LAB), "--offline"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("so-tu-phap: Sở Tư pháp\n")
    assert "  sotuphap.lab.pdic.internal on mail-1\n" in out
    assert "  site-sotuphap (internal): /etc/pdic/pki/site-sotuphap.crt" in out
    assert (
        main(["agency", "show", "so-noi-vu", "-i", str(THAIBINH), "-f", "json", "--offline"]) == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert record["mail_domain"] == "sonoivu.thaibinh.gov.vn"
    assert len(record["mailboxes"]) == len(
        [m for m in load_inventory(THAIBINH).vars["mail_mailboxes"] if m["agency"] == "so-noi-vu"]
    )
