"""Playbooks only compose roles, and roles stay independent of each other.

Checks: site.yml passes ``ansible-playbook --syntax-check`` against the lab inventory;
site.yml only imports playbooks that exist under playbooks/; no role includes, imports or
depends on another role. Nothing here connects to a host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
SITE = PLAYBOOKS / "site.yml"
ROLES = sorted(p for p in (ROOT / "roles").glob("*") if p.is_dir())
IMPORT_PLAYBOOK = ("ansible.builtin.import_playbook", "import_playbook")
ROLE_INCLUDES = (
    "ansible.builtin.include_role",
    "include_role",
    "ansible.builtin.import_role",
    "import_role",
)


def _site_plays() -> list[dict[str, Any]]:
    return yaml.safe_load(SITE.read_text(encoding="utf-8")) or []


def test_site_passes_syntax_check() -> None:
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    assert ansible_playbook.is_file(), f"ansible-playbook not found next to {sys.executable}"
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    result = subprocess.run(
        [str(ansible_playbook), "--syntax-check", "playbooks/site.yml", "-i", "inventory/lab"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_site_only_imports_playbooks() -> None:
    for index, play in enumerate(_site_plays()):
        assert any(key in play for key in IMPORT_PLAYBOOK), (
            f"site.yml entry {index} ({play.get('name', '?')}) is not an import_playbook"
        )


@pytest.mark.parametrize(
    "target",
    [play[key] for play in _site_plays() for key in IMPORT_PLAYBOOK if key in play],
)
def test_site_import_exists_under_playbooks(target: str) -> None:
    path = (PLAYBOOKS / target).resolve()
    assert path.parent == PLAYBOOKS.resolve(), f"site.yml imports {target} from outside playbooks/"
    assert path.suffix == ".yml", f"site.yml imports {target}: playbooks end in .yml"
    assert path.is_file(), f"site.yml imports {target}, which does not exist"


def _included_roles(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _included_roles(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ROLE_INCLUDES:
                yield str(value.get("name", "?") if isinstance(value, dict) else value)
            else:
                yield from _included_roles(value)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def _role_yaml(role: Path) -> list[Path]:
    return sorted(p for sub in ("tasks", "handlers") for p in (role / sub).rglob("*.yml"))


@pytest.mark.parametrize("role", [pytest.param(r, id=r.name) for r in ROLES])
def test_role_does_not_include_other_roles(role: Path) -> None:
    for path in _role_yaml(role):
        others = [name for name in _included_roles(_load(path)) if name != role.name]
        where = path.relative_to(ROOT)
        assert not others, f"{where} includes role(s) {others}: compose roles in playbooks/"


@pytest.mark.parametrize("role", [pytest.param(r, id=r.name) for r in ROLES])
def test_role_has_no_dependencies(role: Path) -> None:
    meta = _load(role / "meta" / "main.yml") or {}
    assert not meta.get("dependencies"), (
        f"roles/{role.name}/meta/main.yml has dependencies: compose roles in playbooks/"
    )
