"""A copy of the lab inventory grown by one host and one portal site."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventory" / "lab"
NEW_SITE = {
    "name": "xamot",
    "hostname": "xamot.lab.pdic.internal",
    "agency": "huyen-mau-xa-mot",
    "title": "Xã Một",
}


def grown_lab(tmp_path: Path, group: str, host: str, address: str) -> Path:
    """The lab inventory under ``tmp_path`` with ``host`` added to ``group`` and NEW_SITE."""
    inv = tmp_path / "lab"
    shutil.copytree(LAB, inv)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text(encoding="utf-8"))
    hosts["all"]["children"][group]["hosts"][host] = {"ansible_host": address}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")
    province_file = inv / "group_vars" / "all" / "province.yml"
    province = yaml.safe_load(province_file.read_text(encoding="utf-8"))
    province["portal_sites"].append(dict(NEW_SITE))
    province_file.write_text(yaml.safe_dump(province, allow_unicode=True), encoding="utf-8")
    return inv
