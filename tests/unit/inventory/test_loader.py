"""load_inventory: hosts, groups, variable precedence, vault values and unreadable input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pdic.errors import InventoryError
from pdic.inventory import Host, VaultValue, load_inventory

from .conftest import REPO, WriteInventory

PRECEDENCE = {
    "hosts.yml": """
        all:
          vars: {a: inline_all, b: inline_all, c: inline_all, d: inline_all, e: inline_all}
          children:
            web:
              vars: {b: inline_web, c: inline_web, d: inline_web, e: inline_web, f: inline_web}
              children:
                front:
                  vars: {b: inline_front, f: inline_front}
                  hosts:
                    h1: {d: inline_host, e: inline_host}
            api:
              vars: {g: inline_api}
              hosts:
                h1:
                h2:
        """,
    "group_vars/all/x.yml": "{c: file_all, a: file_all, b: file_all}",
    "group_vars/web.yml": "{d: file_web, g: file_web}",
    "host_vars/h1.yml": "{e: file_h1}",
}


def test_lab_inventory_loads() -> None:
    inv = load_inventory(REPO / "inventory" / "lab")
    assert list(inv.hosts)[:2] == ["portal-1", "eoffice-1"]
    assert inv.groups["db"] == ("db-1", "db-2")
    db1 = inv.host("db-1")
    assert db1 == Host(name="db-1", address="10.251.0.31", groups=("db",), vars=db1.vars)
    assert db1.get("postgresql_role") == "primary"
    assert db1.get("no_such_var", 7) == 7
    assert inv.vars["pdic_network"] == "10.251.0.0/24"
    assert "ansible_host" not in inv.vars


def test_path_may_name_hosts_yml() -> None:
    inv = load_inventory(REPO / "inventory" / "lab" / "hosts.yml")
    assert inv.path == REPO / "inventory" / "lab"


def test_precedence_follows_ansible(write_inventory: WriteInventory) -> None:
    inv = load_inventory(write_inventory(PRECEDENCE))
    # inline all < inline groups (parents first) < group_vars/all < group_vars/<group>
    # < inline host < host_vars: inline group vars lose to group_vars/all, as in Ansible.
    assert dict(inv.host("h1").vars) == {
        "a": "file_all",
        "b": "file_all",
        "c": "file_all",
        "d": "inline_host",
        "e": "file_h1",
        "f": "inline_front",
        "g": "file_web",
    }
    assert inv.host("h2").get("g") == "inline_api"
    assert inv.host("h2").get("b") == "file_all"
    assert dict(inv.vars) == {
        "a": "file_all",
        "b": "file_all",
        "c": "file_all",
        "d": "inline_all",
        "e": "inline_all",
    }


@pytest.mark.skipif(
    shutil.which("ansible-inventory", path=str(Path(sys.executable).parent)) is None,
    reason="ansible-inventory is not installed next to this Python",
)
def test_precedence_matches_ansible_inventory(write_inventory: WriteInventory) -> None:
    root = write_inventory(PRECEDENCE)
    tool = shutil.which("ansible-inventory", path=str(Path(sys.executable).parent))
    assert tool is not None
    inv = load_inventory(root)
    for name in ("h1", "h2"):
        out = subprocess.run(
            [tool, "-i", str(root / "hosts.yml"), "--host", name],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "HOME": str(root)},
        )
        assert json.loads(out.stdout) == dict(inv.host(name).vars)


def test_groups_expand_children_and_hosts_keep_file_order(write_inventory: WriteInventory) -> None:
    inv = load_inventory(write_inventory(PRECEDENCE))
    assert list(inv.hosts) == ["h1", "h2"]
    assert inv.groups == {"web": ("h1",), "front": ("h1",), "api": ("h1", "h2")}
    assert inv.host("h1").groups == ("api", "front", "web")
    assert inv.host("h1").address == "h1"


def test_a_group_vars_directory_is_read_recursively_in_ansibles_order(
    write_inventory: WriteInventory,
) -> None:
    root = write_inventory(
        {
            "hosts.yml": "db:\n  hosts:\n    db-1:\n      ansible_host: 192.0.2.31\n",
            "group_vars/db/10-first.yaml": "y: dir-first\nz: dir-first\n",
            "group_vars/db/20-second.json": '{"z": "dir-second"}',
            "group_vars/db/30-sub/x": "x: no-extension\n",
            "group_vars/db/README.md": "not read",
            "group_vars/db/.hidden.yml": "x: hidden\n",
            "group_vars/db/40-backup.yml~": "x: backup\n",
            "host_vars/db-1/main.yml": "w: host\n",
        }
    )
    host = load_inventory(root).host("db-1")
    assert dict(host.vars) == {
        "x": "no-extension",
        "y": "dir-first",
        "z": "dir-second",
        "ansible_host": "192.0.2.31",
        "w": "host",
    }


def test_a_group_vars_file_beside_its_directory_is_refused(
    write_inventory: WriteInventory,
) -> None:
    """Ansible reads group_vars/db/ and never group_vars/db.yml: a trap, so pdic refuses it."""
    root = write_inventory(
        {
            "hosts.yml": "db:\n  hosts:\n    db-1:\n      ansible_host: 192.0.2.31\n",
            "group_vars/db.yml": "x: file\n",
            "group_vars/db/10-first.yaml": "y: dir-first\n",
        }
    )
    with pytest.raises(InventoryError) as err:
        load_inventory(root)
    assert str(err.value) == (
        "group_vars/db.yml: (file): Ansible does not read it, since group_vars/db/ exists "
        "(the first of db, db.yml, db.yaml, db.json wins); move its variables there"
    )


def test_vault_values_stay_opaque_and_jinja_stays_raw(write_inventory: WriteInventory) -> None:
    root = write_inventory(
        {
            "hosts.yml": "mail:\n  hosts:\n    mail-1:\n",
            "group_vars/all/secrets.yml": """
                ---
                mail_relay_password: !vault |
                  $ANSIBLE_VAULT;1.1;AES256
                  62313365396662343061393464336163383764373764613633653634306231386433626436623361
                mail_banner: "{{ pdic_domain }} mail"
                raw: !unsafe "{{ not templated }}"
                """,
            "group_vars/all/encrypted.yml": "$ANSIBLE_VAULT;1.1;AES256\n6231336539666234\n",
        }
    )
    inv = load_inventory(root)
    secret = inv.vars["mail_relay_password"]
    assert isinstance(secret, VaultValue)
    assert secret.ciphertext.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert repr(secret) == "VaultValue(<encrypted>)"
    assert "6231" not in str(inv.host("mail-1"))
    assert inv.vars["mail_banner"] == "{{ pdic_domain }} mail"
    assert inv.vars["raw"] == "{{ not templated }}"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path / "nope")
    assert err.value.problems == [f"{tmp_path / 'nope'}: (directory): no such inventory directory"]


def test_missing_hosts_yml(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"^hosts.yml: \(file\): missing"):
        load_inventory(tmp_path)


def test_yaml_syntax_error_names_file_and_line(write_inventory: WriteInventory) -> None:
    root = write_inventory(
        {
            "hosts.yml": "mail:\n  hosts:\n    mail-1:\n",
            "group_vars/all.yml": "a: 1\nb: [1, 2\nc: 3\n",
        }
    )
    with pytest.raises(InventoryError) as err:
        load_inventory(root)
    assert err.value.problems == [
        "group_vars/all.yml: line 3, column 2: YAML syntax error: "
        "did not find expected ',' or ']' (while parsing a flow sequence at line 2)"
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"hosts.yml": "- portal-1\n"},
            "hosts.yml: (file): must be a mapping of groups, not a list",
        ),
        ({"hosts.yml": ""}, "hosts.yml: (file): must be a mapping of groups, not empty"),
        (
            {"hosts.yml": "mail:\n  hosts:\n    mail-1:\n", "host_vars/mail-1.yml": "text\n"},
            "host_vars/mail-1.yml: (file): must be a mapping of variables, not a string",
        ),
    ],
)
def test_top_level_must_be_a_mapping(
    write_inventory: WriteInventory, files: dict[str, str], message: str
) -> None:
    with pytest.raises(InventoryError) as err:
        load_inventory(write_inventory(files))
    assert err.value.problems == [message]


def test_host_is_immutable_and_hashable() -> None:
    host = load_inventory(REPO / "inventory" / "lab").host("mon-1")
    with pytest.raises(AttributeError):
        host.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        host.vars["x"] = 1  # type: ignore[index]
    assert hash(host) == hash(Host("mon-1", "10.251.0.61", ("monitoring",), {}))
