"""Keep every role's interface honest: defaults, argument specs, names and templates agree.

For each role under roles/: every variable in defaults/main.yml is documented in
meta/argument_specs.yml (entry point ``main``) with the same default, and every documented
top-level option has a default there; every documented option (suboptions included) has a
type and a description; every variable the role defines or registers starts with the role's
name (``<role>_`` public, ``_<role>_`` private); every template starts with the
``ansible_managed`` comment. One case per role and variable, so each failure is reported on
its own.

It reads files only: whether the role works on a host is for the lab tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").glob("*") if p.is_dir())
MANAGED_FIRST_LINE = r"{{ ansible_managed | comment"


def _load(path: Path) -> Any:
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _defaults(role: Path) -> dict[str, Any]:
    return _load(role / "defaults" / "main.yml") or {}


def _main_options(role: Path) -> dict[str, Any]:
    specs = _load(role / "meta" / "argument_specs.yml") or {}
    main = (specs.get("argument_specs") or {}).get("main") or {}
    return main.get("options") or {}


def _walk_options(
    options: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in options.items():
        spec = spec or {}
        yield prefix + name, spec
        yield from _walk_options(spec.get("options") or {}, prefix + name + ".")


def _task_files(role: Path) -> list[Path]:
    return sorted(p for sub in ("tasks", "handlers") for p in (role / sub).rglob("*.yml"))


def _registered(node: Any) -> Iterator[str]:
    """Names a task list registers or sets as facts, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _registered(item)
    elif isinstance(node, dict):
        if isinstance(node.get("register"), str):
            yield node["register"]
        for key in ("ansible.builtin.set_fact", "set_fact"):
            if isinstance(node.get(key), dict):
                yield from (k for k in node[key] if k != "cacheable")
        for key in ("block", "rescue", "always"):
            yield from _registered(node.get(key))


def _role_variables(role: Path) -> set[str]:
    names = (
        set(_defaults(role))
        | set(_load(role / "vars" / "main.yml") or {})
        | set(_main_options(role))
    )
    for path in _task_files(role):
        names.update(_registered(_load(path)))
    return names


def _optional_options(role: Path) -> list[str]:
    return sorted(n for n, spec in _main_options(role).items() if not (spec or {}).get("required"))


def _all_options(role: Path) -> list[str]:
    return [name for name, _ in _walk_options(_main_options(role))]


def _templates(role: Path) -> list[str]:
    return sorted(
        str(p.relative_to(role / "templates")) for p in (role / "templates").rglob("*.j2")
    )


def _cases(items: Callable[[Path], Iterable[str]]) -> list[Any]:
    return [pytest.param(r, item, id=f"{r.name}:{item}") for r in ROLES for item in items(r)]


@pytest.mark.parametrize(("role", "name"), _cases(lambda r: sorted(_defaults(r))))
def test_default_is_documented_with_the_same_value(role: Path, name: str) -> None:
    options = _main_options(role)
    assert name in options, (
        f"{role.name}: {name} is in defaults/main.yml but not in meta/argument_specs.yml"
    )
    assert "default" in options[name], f"{role.name}: argument_specs.yml gives {name} no default"
    assert options[name]["default"] == _defaults(role)[name], (
        f"{role.name}: {name} defaults differ between defaults/main.yml and meta/argument_specs.yml"
    )


@pytest.mark.parametrize(("role", "name"), _cases(_optional_options))
def test_documented_option_has_a_default(role: Path, name: str) -> None:
    assert name in _defaults(role), (
        f"{role.name}: {name} is in meta/argument_specs.yml but missing from defaults/main.yml"
    )


@pytest.mark.parametrize(("role", "name"), _cases(_all_options))
def test_documented_option_has_type_and_description(role: Path, name: str) -> None:
    spec = dict(_walk_options(_main_options(role)))[name]
    assert spec.get("type"), f"{role.name}: option {name} has no type"
    assert spec.get("description"), f"{role.name}: option {name} has no description"


@pytest.mark.parametrize(("role", "name"), _cases(lambda r: sorted(_role_variables(r))))
def test_variable_is_named_after_its_role(role: Path, name: str) -> None:
    assert name.startswith((f"{role.name}_", f"_{role.name}_")), (
        f"{role.name}: variable {name} must start with {role.name}_ (or _{role.name}_ if private)"
    )


@pytest.mark.parametrize(("role", "template"), _cases(_templates))
def test_template_starts_with_ansible_managed(role: Path, template: str) -> None:
    first = (role / "templates" / template).read_text(encoding="utf-8").splitlines()[:1]
    assert first and first[0].startswith(MANAGED_FIRST_LINE), (
        f"{role.name}: templates/{template} must start with {{{{ ansible_managed | comment }}}}"
    )


def _facts(role: Path) -> set[str]:
    """Names the role's tasks register or set as facts (defined only once those tasks ran)."""
    names: set[str] = set()
    for path in _task_files(role):
        names.update(_registered(_load(path)))
    return names


@pytest.mark.parametrize(("role", "name"), _cases(lambda r: sorted(_defaults(r))))
def test_a_default_needs_no_fact_of_the_roles_tasks(role: Path, name: str) -> None:
    # Ansible validates a role's arguments before its first task: a default that reads a fact
    # the tasks set is undefined there (it once stopped the monitoring play in the lab).
    text = yaml.safe_dump(_defaults(role)[name])
    used = {f for f in _facts(role) if re.search(rf"\b{re.escape(f)}\b", text)}
    assert used == set(), f"{role.name}: {name} reads {sorted(used)}, set by the role's tasks"


def test_there_are_roles_to_check() -> None:
    assert ROLES, "no role under roles/"
