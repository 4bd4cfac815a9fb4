"""Scrape targets from the inventory: jobs, labels, ordering, and growth with the inventory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pdic.cli import main
from pdic.inventory import Inventory, check_inventory, load_inventory, load_valid_inventory
from pdic.monitoring import JOBS, file_sd_targets, write_file_sd

from .conftest import grown_lab

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventory" / "lab"
THAIBINH = REPO / "inventory" / "thaibinh"

LAB_HOSTS = [
    ("portal-1", "10.251.0.11", "portal"),
    ("eoffice-1", "10.251.0.12", "eoffice"),
    ("hcc-1", "10.251.0.13", "hcc"),
    ("mail-1", "10.251.0.21", "mail"),
    ("db-1", "10.251.0.31", "db"),
    ("db-2", "10.251.0.32", "db"),
    ("backup-1", "10.251.0.41", "backup"),
    ("ca-1", "10.251.0.51", "pki"),
    ("mon-1", "10.251.0.61", "monitoring"),
]


@pytest.fixture(scope="module")
def lab() -> dict[str, list[dict[str, object]]]:
    return file_sd_targets(load_inventory(LAB))


@pytest.fixture(scope="module")
def thaibinh_inventory() -> Inventory:
    return load_inventory(THAIBINH)


@pytest.fixture(scope="module")
def thaibinh(thaibinh_inventory: Inventory) -> dict[str, list[dict[str, object]]]:
    return file_sd_targets(thaibinh_inventory)


def _targets(entries: list[dict[str, object]]) -> list[str]:
    found = []
    for entry in entries:
        targets = entry["targets"]
        assert isinstance(targets, list) and len(targets) == 1
        found.append(targets[0])
    return found


def test_every_job_is_present(lab: dict[str, list[dict[str, object]]]) -> None:
    assert list(lab) == list(JOBS)


@pytest.mark.parametrize(("job", "port"), [("node", 9100), ("pdic", 9469)])
def test_every_lab_host_has_node_and_pdic_exporters(
    lab: dict[str, list[dict[str, object]]], job: str, port: int
) -> None:
    assert lab[job] == [
        {"targets": [f"{addr}:{port}"], "labels": {"host": name, "service": svc, "env": "lab"}}
        for name, addr, svc in LAB_HOSTS
    ]


def test_postgres_postfix_and_dovecot_exporters_on_their_groups(
    lab: dict[str, list[dict[str, object]]],
) -> None:
    assert _targets(lab["postgres"]) == ["10.251.0.31:9187", "10.251.0.32:9187"]
    assert [e["labels"] for e in lab["postgres"]] == [
        {"host": "db-1", "service": "db", "env": "lab"},
        {"host": "db-2", "service": "db", "env": "lab"},
    ]
    assert lab["postfix"] == [
        {
            "targets": ["10.251.0.21:9154"],
            "labels": {"host": "mail-1", "service": "mail", "env": "lab"},
        }
    ]
    assert lab["dovecot"] == [
        {
            "targets": ["10.251.0.21:9900"],
            "labels": {"host": "mail-1", "service": "mail", "env": "lab"},
        }
    ]


def test_portal_sites_are_probed_with_agency_and_tier(
    lab: dict[str, list[dict[str, object]]],
) -> None:
    assert len(lab["blackbox_https"]) == 27
    expected = [
        ("sonoivu", "sonoivu.lab.pdic.internal", "so-noi-vu", "province"),
        ("sotuphap", "sotuphap.lab.pdic.internal", "so-tu-phap", "province"),
    ]
    assert lab["blackbox_https"][:2] + lab["blackbox_https"][-1:] == [
        {
            "targets": [f"https://{hostname}/"],
            "labels": {
                "site": site,
                "agency": agency,
                "tier": tier,
                "service": "portal",
                "env": "lab",
                "module": "https_2xx",
            },
        }
        for site, hostname, agency, tier in [
            *expected,
            ("vuthu", "vuthu.lab.pdic.internal", "vu-thu", "district"),
        ]
    ]


def test_mail_ports_are_probed(lab: dict[str, list[dict[str, object]]]) -> None:
    assert lab["blackbox_mail"] == [
        {
            "targets": [target],
            "labels": {"host": "mail-1", "service": "mail", "env": "lab", "module": module},
        }
        for target, module in [
            ("mail-1.lab.pdic.internal:25", "smtp_banner"),
            ("mail-1.lab.pdic.internal:587", "smtp_banner"),
            ("mail-1.lab.pdic.internal:993", "imaps"),
        ]
    ]


def test_applications_healthz_is_probed(lab: dict[str, list[dict[str, object]]]) -> None:
    assert lab["blackbox_healthz"] == [
        {
            "targets": [f"https://{name}.lab.pdic.internal/healthz"],
            "labels": {"host": name, "service": svc, "env": "lab", "module": "https_2xx"},
        }
        for name, svc in [("eoffice-1", "eoffice"), ("hcc-1", "hcc")]
    ]


def test_thaibinh_probes_its_27_sites(thaibinh: dict[str, list[dict[str, object]]]) -> None:
    sites = thaibinh["blackbox_https"]
    assert len(sites) == 27
    assert len(set(_targets(sites))) == 27
    assert _targets(sites)[0] == "https://sonoivu.thaibinh.gov.vn/"
    for entry in sites:
        labels = entry["labels"]
        assert isinstance(labels, dict)
        assert labels["tier"] in {"province", "district", "commune"}
        assert labels["env"] == "thaibinh"


def test_thaibinh_host_counts(
    thaibinh: dict[str, list[dict[str, object]]], thaibinh_inventory: Inventory
) -> None:
    inventory = thaibinh_inventory
    assert len(thaibinh["node"]) == len(inventory.hosts)
    assert len(thaibinh["postgres"]) == len(inventory.groups["db"])
    assert len(thaibinh["blackbox_mail"]) == 3 * len(inventory.groups["mail"])
    assert len(thaibinh["blackbox_healthz"]) == len(inventory.groups["eoffice"]) + len(
        inventory.groups["hcc"]
    )


def test_output_is_deterministic(
    thaibinh: dict[str, list[dict[str, object]]], thaibinh_inventory: Inventory
) -> None:
    assert json.dumps(file_sd_targets(thaibinh_inventory)) == json.dumps(thaibinh)
    lab = json.dumps(file_sd_targets(load_inventory(LAB)))
    assert json.dumps(file_sd_targets(load_inventory(LAB))) == lab


def _lab_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "lab"
    shutil.copytree(LAB, copy)
    return copy


def test_adding_a_host_and_a_site_adds_their_targets(tmp_path: Path) -> None:
    inv = grown_lab(tmp_path, "mail", "mail-2", "10.251.0.22")
    assert check_inventory(inv) == []
    before = file_sd_targets(load_inventory(LAB))
    after = file_sd_targets(load_inventory(inv))

    for job in ("node", "pdic", "postfix", "dovecot"):
        added = [t for t in _targets(after[job]) if t not in _targets(before[job])]
        assert [a.rsplit(":", 1)[0] for a in added] == ["10.251.0.22"], job
    added_mail = set(_targets(after["blackbox_mail"])) - set(_targets(before["blackbox_mail"]))
    assert added_mail == {f"mail-2.lab.pdic.internal:{port}" for port in (25, 587, 993)}
    assert after["blackbox_https"][-1] == {
        "targets": ["https://xamot.lab.pdic.internal/"],
        "labels": {
            "site": "xamot",
            "agency": "huyen-mau-xa-mot",
            "tier": "commune",
            "service": "portal",
            "env": "lab",
            "module": "https_2xx",
        },
    }
    assert after["blackbox_https"][:-1] == before["blackbox_https"]
    assert after["postgres"] == before["postgres"]


def test_ipv6_addresses_are_bracketed(tmp_path: Path) -> None:
    inv = tmp_path / "v6"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n    db:\n      hosts:\n        db-1:\n"
        "          ansible_host: 2001:db8::31\n",
        encoding="utf-8",
    )
    (inv / "group_vars" / "all" / "centre.yml").write_text(
        "pdic_env: v6\npdic_domain: v6.example\n", encoding="utf-8"
    )
    targets = file_sd_targets(load_inventory(inv))
    assert _targets(targets["postgres"]) == ["[2001:db8::31]:9187"]
    assert targets["blackbox_https"] == []
    assert targets["blackbox_healthz"] == []


def test_write_file_sd_writes_one_json_file_per_job(tmp_path: Path) -> None:
    out = tmp_path / "file_sd"
    paths = write_file_sd(load_valid_inventory(LAB), out)
    assert paths == [out / f"{job}.json" for job in JOBS]
    expected = file_sd_targets(load_inventory(LAB))
    for job, path in zip(JOBS, paths, strict=True):
        assert json.loads(path.read_text(encoding="utf-8")) == expected[job]
        assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)


def test_write_file_sd_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    out = tmp_path / "file_sd"
    paths = write_file_sd(load_valid_inventory(LAB), out)
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    inodes = {p: p.stat().st_ino for p in paths}
    write_file_sd(load_valid_inventory(LAB), out)
    assert {p: p.stat().st_mtime_ns for p in paths} == stamps
    assert {p: p.stat().st_ino for p in paths} == inodes


def test_monitoring_targets_refuses_an_invalid_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = _lab_copy(tmp_path)
    province_file = inv / "group_vars" / "all" / "province.yml"
    province = yaml.safe_load(province_file.read_text(encoding="utf-8"))
    province["portal_sites"][0]["agency"] = "no-such-agency"
    province_file.write_text(yaml.safe_dump(province, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "file_sd"
    assert main(["monitoring", "targets", "-i", str(inv), "-o", str(out)]) == 2
    assert "no-such-agency" in capsys.readouterr().err
    assert not out.exists()
