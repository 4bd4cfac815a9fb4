"""pdic reads an inventory directory exactly as Ansible does: its loaded model (every host, group
and variable) equals what ``ansible-inventory`` prints for the same directory, for both
reference inventories and the valid corpus, and for a directory with a second inventory file.

Ansible is run as ``pdic deploy`` runs it (the project's ansible.cfg, ``-i DIR``), with ``--list``
(each host's merged variables and the groups) and ``--list --export`` (the variables each group
and host sets itself). Files vault-encrypted as a whole are left out of the copy both read
(pdic does not decrypt them, and the lab's exists only where the lab ran).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pdic.errors import InventoryError
from pdic.inventory import VaultValue, load_inventory
from pdic.inventory.loader import Source, read_inventory

from .conftest import CORPUS, REPO, WriteInventory

ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
VALID = {
    "lab": REPO / "inventory" / "lab",
    "thaibinh": REPO / "inventory" / "thaibinh",
    "corpus-valid": CORPUS / "_valid",
}


def clear_copy(source: Path, target: Path) -> Path:
    """``source`` copied without the files that are vault-encrypted as a whole."""
    shutil.copytree(source, target, symlinks=True)
    for path in target.rglob("*"):
        if path.is_file() and path.read_bytes().lstrip().startswith(b"$ANSIBLE_VAULT"):
            path.unlink()
    return target


def ansible_inventory(root: Path, *args: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_CACHE_PLUGIN": "memory",  # facts are not the inventory
    }
    proc = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(root), "--list", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[WARNING]" not in proc.stderr, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    # Under the project's settings (fact caching, facts not injected as variables) Ansible
    # shows an empty ansible_local, the local facts' placeholder, on every host: not inventory.
    for hostvars in result["_meta"]["hostvars"].values():
        if hostvars.get("ansible_local") == {}:
            del hostvars["ansible_local"]
    return result


def plain(value: Any) -> Any:
    """pdic's values as ansible-inventory prints them (JSON, vault values as Ansible's)."""
    if isinstance(value, VaultValue):
        return {"__ansible_vault": value.ciphertext}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return json.loads(json.dumps(value))


def members(listing: Mapping[str, Any], group: str) -> set[str]:
    """Every host of ``group`` in an ``ansible-inventory --list``, children included."""
    entry = listing.get(group, {})
    found = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        found |= members(listing, child)
    return found


def merged(layers: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        out.update(layer.data)
    return plain(out)


def own_host_vars(source: Source, name: str) -> dict[str, Any]:
    """What a host sets itself: its entries in the inventory files and host_vars/."""
    return merged(
        [
            layer
            for layer in source.host_layers[name]
            if layer.file.startswith("host_vars/")
            or (layer.file in source.inventory_files and layer.prefix[-2:-1] == ("hosts",))
        ]
    )


def assert_same_view(root: Path) -> None:
    source = read_inventory(root)
    inv = source.inventory
    listing = ansible_inventory(root)
    exported = ansible_inventory(root, "--export")

    hostvars = listing["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(inv.hosts)
    for name, host in inv.hosts.items():
        assert plain(host.vars) == hostvars[name], name

    groups = {g for g in listing if g not in ("_meta", "all", "ungrouped")}
    assert groups == set(inv.groups)
    for group in groups:
        assert members(listing, group) == set(inv.groups[group]), group

    for group in groups:
        assert merged(source.group_layers.get(group, [])) == exported.get(group, {}).get(
            "vars", {}
        ), group
    assert plain(inv.vars) == exported["all"].get("vars", {})
    for name in inv.hosts:
        assert own_host_vars(source, name) == exported["_meta"]["hostvars"].get(name, {}), name


@pytest.mark.parametrize("name", sorted(VALID))
def test_pdic_sees_what_ansible_sees(name: str, tmp_path: Path) -> None:
    assert_same_view(clear_copy(VALID[name], tmp_path / name))


def test_a_second_inventory_file_is_read_as_ansible_reads_it(tmp_path: Path) -> None:
    root = clear_copy(VALID["lab"], tmp_path / "lab")
    (root / "zz-extra.yml").write_text(
        "all:\n  hosts:\n    portal-1:\n      ansible_host: 10.251.0.99\n"
        "  children:\n    portal:\n      vars:\n        extra_from_second_file: true\n"
    )
    assert_same_view(root)
    inv = load_inventory(root)
    assert inv.host("portal-1").address == "10.251.0.99"
    assert inv.host("portal-1").vars["extra_from_second_file"] is True


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("extra.ini", "[portal]\nportal-9 ansible_host=10.251.0.99\n"),
        ("hosts", "portal-9\n"),
        ("sub/more.toml", "[portal.hosts.portal-9]\n"),
    ],
)
def test_a_file_ansible_reads_and_pdic_cannot_is_refused(
    name: str, text: str, tmp_path: Path
) -> None:
    root = clear_copy(VALID["corpus-valid"], tmp_path / "inv")
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    with pytest.raises(InventoryError) as err:
        load_inventory(root)
    assert str(err.value) == (
        f"{name}: (file): Ansible reads every file in the inventory directory as an inventory "
        "source, and pdic reads only YAML inventories (.yml, .yaml, .json); convert it or move "
        "it out of the directory"
    )


def test_files_ansible_ignores_are_ignored(write_inventory: WriteInventory) -> None:
    root = write_inventory(
        {
            "hosts.yml": "db:\n  hosts:\n    db-1:\n      ansible_host: 192.0.2.31\n",
            "README.md": "notes\n",
            "hosts.yml.bak": "not: read\n",
            "hosts.yml~": "not: read\n",
            ".hidden.yml": "all:\n  hosts:\n    x: {}\n",
            "ansible.cfg": "[defaults]\n",
        }
    )
    assert list(load_inventory(root).hosts) == ["db-1"]
    assert_same_view(root)


def test_an_inventory_plugin_configuration_is_refused(write_inventory: WriteInventory) -> None:
    root = write_inventory(
        {
            "hosts.yml": "db:\n  hosts:\n    db-1:\n      ansible_host: 192.0.2.31\n",
            "constructed.yml": "plugin: ansible.builtin.constructed\n",
        }
    )
    with pytest.raises(InventoryError) as err:
        load_inventory(root)
    assert str(err.value).startswith(
        "constructed.yml: plugin: an inventory plugin's configuration "
        "('ansible.builtin.constructed')"
    )
