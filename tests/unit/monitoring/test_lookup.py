"""The pdic_targets lookup the prometheus role reads its targets with is pdic's own generator.

The role writes ``query('pdic_targets', inventory_dir) | first`` as its file_sd files, so these
checks are about what Ansible deploys: the same targets as ``pdic monitoring targets``, growing
with the inventory, and an invalid inventory stopping the run with its problems.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleLookupError

from pdic.ansible_plugins.lookup.pdic_targets import LookupModule
from pdic.inventory import load_inventory
from pdic.monitoring import file_sd_targets

from .conftest import grown_lab

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventory" / "lab"


def _lookup(inventory: Path) -> dict[str, Any]:
    (result,) = LookupModule().run([str(inventory)], {})
    return result


def test_lookup_gives_what_pdic_monitoring_targets_writes() -> None:
    assert _lookup(LAB) == file_sd_targets(load_inventory(LAB))


def test_ansible_cfg_points_at_the_lookup() -> None:
    cfg = (REPO / "ansible.cfg").read_text(encoding="utf-8")
    assert "lookup_plugins = src/pdic/ansible_plugins/lookup" in cfg
    assert (REPO / "src/pdic/ansible_plugins/lookup/pdic_targets.py").is_file()


def test_a_new_host_and_site_are_scraped_with_no_other_edit(tmp_path: Path) -> None:
    inv = grown_lab(tmp_path, "portal", "portal-2", "10.251.0.14")
    before, after = _lookup(LAB), _lookup(inv)
    for job in ("node", "pdic"):
        new = [e for e in after[job] if e not in before[job]]
        assert [e["labels"]["host"] for e in new] == ["portal-2"], job
        assert new[0]["labels"]["service"] == "portal"
    new_sites = [e for e in after["blackbox_https"] if e not in before["blackbox_https"]]
    assert new_sites == [
        {
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
    ]


def test_an_invalid_inventory_stops_the_lookup(tmp_path: Path) -> None:
    inv = tmp_path / "lab"
    shutil.copytree(LAB, inv)
    monitoring = inv / "group_vars" / "all" / "monitoring.yml"
    data = yaml.safe_load(monitoring.read_text(encoding="utf-8"))
    data["prometheus_scrape_interval"] = "5x"
    monitoring.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(AnsibleLookupError, match="prometheus_scrape_interval"):
        _lookup(inv)
