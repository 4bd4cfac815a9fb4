"""pdic.hostsfile: /etc/hosts names every host and, where the inventory asks, every service name
on the host that serves it; the common role's lookup gives bootstrap's text."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pdic import hostsfile
from pdic.ansible_plugins.lookup.pdic_etc_hosts import LookupModule
from pdic.inventory import load_inventory

REPO = Path(__file__).resolve().parents[1].parent
LAB = REPO / "inventory" / "lab"
VALID = REPO / "tests" / "inventory_corpus" / "_valid"


def test_lab_site_names_resolve_to_the_first_portal_host() -> None:
    inv = load_inventory(LAB)
    lines = hostsfile.render_etc_hosts(inv, inv.host("mon-1")).splitlines()
    hosts = [f"{h.address}\t{h.name}.lab.pdic.internal\t{h.name}" for h in inv.hosts.values()]
    assert lines[5 : 5 + len(hosts)] == hosts
    sites = [s["hostname"] for s in inv.vars["portal_sites"]]
    assert lines[5 + len(hosts) : 5 + len(hosts) + 27] == [f"10.251.0.11\t{n}" for n in sites]
    assert len(sites) == 27
    # Then the applications, on the first host of their group.
    assert lines[5 + len(hosts) + 27 :] == [
        "10.251.0.12\teoffice.lab.pdic.internal",
        "10.251.0.13\tmotcua.lab.pdic.internal",
    ]


def test_service_names_are_off_unless_the_inventory_asks() -> None:
    inv = load_inventory(VALID)
    assert "portal_sites" in inv.vars
    assert hostsfile.service_names(inv) == []


def test_application_names_go_to_their_group_and_duplicates_once(tmp_path: Path) -> None:
    inv_dir = tmp_path / "lab"
    shutil.copytree(LAB, inv_dir)
    extra = {
        "pdic_applications": [
            {"name": "eoffice", "group": "eoffice", "hostname": "eoffice.lab.pdic.internal"},
            {"name": "mot-cua", "group": "hcc", "hostname": "motcua.lab.pdic.internal"},
            {"name": "again", "group": "hcc", "hostname": "MOTCUA.lab.pdic.internal"},
            {"name": "own", "group": "hcc", "hostname": "hcc-1.lab.pdic.internal"},
        ]
    }
    (inv_dir / "group_vars" / "all" / "zz-apps.yml").write_text(yaml.safe_dump(extra))
    names = hostsfile.service_names(load_inventory(inv_dir))
    assert names[-2:] == [
        ("10.251.0.12", "eoffice.lab.pdic.internal"),
        ("10.251.0.13", "motcua.lab.pdic.internal"),
    ]


def test_the_lookup_gives_what_bootstrap_writes() -> None:
    (by_host,) = LookupModule().run([str(LAB)], {})
    inv = load_inventory(LAB)
    assert by_host == {n: hostsfile.render_etc_hosts(inv, h) for n, h in inv.hosts.items()}
    from pdic import bootstrap

    assert bootstrap.render_etc_hosts is hostsfile.render_etc_hosts
