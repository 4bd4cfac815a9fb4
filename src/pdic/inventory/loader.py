"""Read an Ansible YAML inventory directory into an :class:`~pdic.inventory.model.Inventory`.

Reads ``hosts.yml`` (Ansible's YAML inventory format: groups with ``hosts``, ``vars`` and
``children``), ``group_vars/<group>`` and ``host_vars/<host>`` (a ``.yml``/``.yaml``/``.json``
file, a directory of them read recursively in name order, or both), and merges each host's
variables in the order ansible-core 2.19 does with its default settings (checked against
``ansible-inventory --host`` by the tests), lowest first:

1. inline ``all.vars`` of hosts.yml;
2. inline ``vars`` of the host's groups, parents before children, then by name;
3. group_vars/all;
4. group_vars/<group> of the host's groups, in the same order;
5. the host's inline vars in hosts.yml (in file order when it is listed more than once);
6. host_vars/<host>.

A later level replaces a top-level key entirely (no deep merge, as Ansible's default
``hash_behaviour = replace``). Values tagged ``!vault`` load as opaque :class:`VaultValue`
objects; files that are vault-encrypted as a whole are skipped; Jinja expressions stay raw
strings. Nothing is templated or decrypted.

The loader refuses only what it cannot read (no directory or hosts.yml, a YAML syntax error, a
document that is not a mapping); everything else it records for :mod:`pdic.inventory.check`,
together with where each value came from, so problems can name their file and key.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from pdic.errors import InventoryError
from pdic.inventory.model import Host, Inventory

Key = str | int
KeyPath = tuple[Key, ...]

HOSTS_FILES = ("hosts.yml", "hosts.yaml")
VARS_SUFFIXES = (".yml", ".yaml", ".json")
GROUP_KEYS = ("children", "hosts", "vars")
NOT_A_POSITION = sys.maxsize


@dataclass(frozen=True)
class VaultValue:
    """A value tagged ``!vault`` in the inventory: kept encrypted, never shown."""

    ciphertext: str = field(repr=False)

    def __repr__(self) -> str:
        return "VaultValue(<encrypted>)"


@dataclass(frozen=True)
class Problem:
    """One problem with an inventory, as ``file: where: message``.

    ``position`` orders problems of one file as they appear in it.
    """

    file: str
    where: str
    message: str
    position: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"

    @property
    def sort_key(self) -> tuple[str, tuple[int, ...], str, str]:
        return (self.file, self.position, self.where, self.message)


@dataclass(frozen=True)
class Layer:
    """A mapping of variables and where it sits: ``file`` (relative) and the key path in it."""

    file: str
    prefix: KeyPath
    data: Mapping[str, Any]


@dataclass
class Source:
    """An inventory together with what it was read from (for :mod:`pdic.inventory.check`)."""

    inventory: Inventory
    hosts_file: str
    docs: dict[str, Any] = field(default_factory=dict)
    all_layers: list[Layer] = field(default_factory=list)
    host_layers: dict[str, list[Layer]] = field(default_factory=dict)
    group_layers: dict[str, list[Layer]] = field(default_factory=dict)
    group_places: dict[str, KeyPath] = field(default_factory=dict)
    host_places: dict[str, list[KeyPath]] = field(default_factory=dict)
    notes: list[Problem] = field(default_factory=list)

    def problem(self, file: str, path: KeyPath, message: str) -> Problem:
        """A problem at ``path`` of ``file``, positioned by walking the file's document."""
        return Problem(file, render_path(path), message, self.position(file, path))

    def position(self, file: str, path: KeyPath) -> tuple[int, ...]:
        """Indices along ``path`` in the document of ``file``: its order in the file."""
        node = self.docs.get(file)
        out: list[int] = []
        for key in path:
            if isinstance(node, Mapping) and key in node:
                out.append(_index(node, key))
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                out.append(key)
                node = node[key]
            else:
                out.append(NOT_A_POSITION)
                break
        return tuple(out)

    def origin(self, layers: list[Layer], key: str) -> Layer | None:
        """The layer whose value of ``key`` wins (the last one that sets it)."""
        for layer in reversed(layers):
            if key in layer.data:
                return layer
        return None


def _index(mapping: Mapping[Any, Any], key: Any) -> int:
    for i, k in enumerate(mapping):
        if k == key:
            return i
    return NOT_A_POSITION


def render_path(path: KeyPath) -> str:
    """``("mail_mailboxes", 3, "address")`` -> ``mail_mailboxes[3].address``."""
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out else str(key)
    return out or "(file)"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that also reads Ansible's ``!vault`` and ``!unsafe`` tags."""


def _construct_vault(loader: yaml.SafeLoader, node: yaml.Node) -> VaultValue:
    assert isinstance(node, yaml.ScalarNode)
    return VaultValue(str(loader.construct_scalar(node)))


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("!vault", _construct_vault)
_Loader.add_constructor("!unsafe", _construct_unsafe)


ENCRYPTED = object()
"""What :func:`read_yaml` returns for a file that is vault-encrypted as a whole."""


def read_yaml(root: Path, rel: str) -> Any:
    """The document of ``root/rel``, or ENCRYPTED; InventoryError if it cannot be read."""
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{rel}: (file): cannot read: {exc}") from None
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return ENCRYPTED
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        what = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark:
            what += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise InventoryError(f"{rel}: {where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{rel}: (file): YAML syntax error: {exc}") from None


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "empty"}.get(
        type(value), type(value).__name__
    )


def _vars_files(root: Path, kind: str, name: str) -> list[str]:
    """group_vars/<name> or host_vars/<name> files, in Ansible's order (file, then directory)."""
    base = root / kind
    found = [
        f"{kind}/{name}{suffix}" for suffix in VARS_SUFFIXES if (base / (name + suffix)).is_file()
    ]
    directory = base / name
    if directory.is_dir():
        found.extend(
            p.relative_to(root).as_posix()
            for p in sorted(directory.rglob("*"))
            if p.is_file() and p.suffix in VARS_SUFFIXES and not p.name.startswith(".")
        )
    return found


def _vars_names(root: Path, kind: str) -> list[str]:
    """Names that have a group_vars/ or host_vars/ entry."""
    base = root / kind
    if not base.is_dir():
        return []
    names = set()
    for p in base.iterdir():
        if p.name.startswith("."):
            continue
        if p.is_dir():
            names.add(p.name)
        elif p.suffix in VARS_SUFFIXES:
            names.add(p.stem)
    return sorted(names)


class _Builder:
    """Walks hosts.yml the way Ansible's YAML inventory plugin does."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.file = source.hosts_file
        self.parents: dict[str, set[str]] = {"all": set()}
        self.direct: dict[str, list[str]] = {"all": []}
        self.host_inline: dict[str, list[Layer]] = {}

    def note(self, path: KeyPath, message: str) -> None:
        self.source.notes.append(self.source.problem(self.file, path, message))

    def group(self, name: str, data: Any, path: KeyPath, parent: str | None) -> None:
        self.source.group_places.setdefault(name, path)
        self.direct.setdefault(name, [])
        self.parents.setdefault(name, set())
        if parent is not None and name != "all":
            self.parents[name].add(parent)
        if data is None:
            return
        if not isinstance(data, Mapping):
            self.note(
                path, f"a group must be a mapping of hosts, vars, children, not {_type_name(data)}"
            )
            return
        for key, value in data.items():
            if key not in GROUP_KEYS:
                self.note(
                    (*path, key),
                    f"unknown key {key!r} in a group (expected: {', '.join(GROUP_KEYS)})",
                )
            elif value is None:
                continue
            elif not isinstance(value, Mapping):
                self.note((*path, key), f"must be a mapping, not {_type_name(value)}")
            elif key == "vars":
                layer = Layer(self.file, (*path, "vars"), value)
                self.source.group_layers.setdefault(name, []).append(layer)
            elif key == "children":
                for child, child_data in value.items():
                    self.group(str(child), child_data, (*path, "children", child), name)
            else:
                for host, host_data in value.items():
                    self.host(str(host), host_data, (*path, "hosts", host), name)

    def host(self, name: str, data: Any, path: KeyPath, group: str) -> None:
        self.source.host_places.setdefault(name, []).append(path)
        self.direct[group].append(name)
        layers = self.host_inline.setdefault(name, [])
        if isinstance(data, Mapping):
            layers.append(Layer(self.file, path, data))
        elif data is not None:
            self.note(path, f"host variables must be a mapping, not {_type_name(data)}")

    def ancestors(self, group: str) -> set[str]:
        seen: set[str] = set()
        todo = [group]
        while todo:
            for parent in self.parents.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def depth(self, group: str, seen: frozenset[str] = frozenset()) -> int:
        parents = self.parents.get(group, set()) - seen
        return max((self.depth(p, seen | {group}) + 1 for p in parents), default=0)


def read_inventory(path: Path | str) -> Source:
    """The inventory at ``path`` with its provenance; InventoryError if it cannot be read."""
    given = Path(path)
    root = given.parent if given.is_file() else given
    if not root.is_dir():
        raise InventoryError(f"{given}: (directory): no such inventory directory")
    hosts_file = next((name for name in HOSTS_FILES if (root / name).is_file()), None)
    if hosts_file is None:
        raise InventoryError("hosts.yml: (file): missing (an inventory directory needs hosts.yml)")
    doc = read_yaml(root, hosts_file)
    if doc is ENCRYPTED:
        raise InventoryError(
            f"{hosts_file}: (file): is vault-encrypted; pdic reads it only in clear"
        )
    if not isinstance(doc, Mapping):
        raise InventoryError(
            f"{hosts_file}: (file): must be a mapping of groups, not {_type_name(doc)}"
        )

    placeholder = Inventory(root, {}, {}, MappingProxyType({}))
    source = Source(placeholder, hosts_file, docs={hosts_file: doc})
    builder = _Builder(source)
    for name, data in doc.items():
        builder.group(str(name), data, (name,), "all")

    def file_layers(kind: str, name: str) -> list[Layer]:
        layers = []
        for rel in _vars_files(root, kind, name):
            data = read_yaml(root, rel)
            if data is ENCRYPTED:
                continue
            if data is None:
                data = {}
            if not isinstance(data, Mapping):
                raise InventoryError(
                    f"{rel}: (file): must be a mapping of variables, not {_type_name(data)}"
                )
            source.docs[rel] = data
            layers.append(Layer(rel, (), data))
        return layers

    groups = [g for g in builder.parents if g != "all"]
    inline_groups = dict(source.group_layers)
    inline_all = inline_groups.get("all", [])
    files_all = file_layers("group_vars", "all")
    source.all_layers = [*inline_all, *files_all]
    group_files = {g: file_layers("group_vars", g) for g in groups}

    for name in _vars_names(root, "group_vars"):
        if name != "all" and name not in builder.parents:
            rel = _vars_files(root, "group_vars", name)
            file = rel[0] if rel else f"group_vars/{name}"
            source.notes.append(Problem(file, "(file)", f"no group {name!r} in {hosts_file}"))
    for name in _vars_names(root, "host_vars"):
        if name not in source.host_places:
            rel = _vars_files(root, "host_vars", name)
            file = rel[0] if rel else f"host_vars/{name}"
            source.notes.append(Problem(file, "(file)", f"no host {name!r} in {hosts_file}"))

    host_groups: dict[str, set[str]] = {h: set() for h in source.host_places}
    for group in groups:
        members = builder.direct.get(group, [])
        for host in members:
            host_groups[host].add(group)
            host_groups[host] |= builder.ancestors(group) - {"all"}

    order = {g: (builder.depth(g), g) for g in groups}
    hosts: dict[str, Host] = {}
    for name in source.host_places:
        mine = sorted(host_groups[name], key=order.__getitem__)
        layers = [
            *inline_all,
            *(layer for g in mine for layer in inline_groups.get(g, [])),
            *files_all,
            *(layer for g in mine for layer in group_files[g]),
            *builder.host_inline[name],
            *file_layers("host_vars", name),
        ]
        source.host_layers[name] = layers
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update(layer.data)
        address = merged.get("ansible_host", name)
        hosts[name] = Host(
            name=name,
            address=str(address) if not isinstance(address, str) else address,
            groups=tuple(sorted(host_groups[name] - {"ungrouped"})),
            vars=MappingProxyType(merged),
        )

    group_members: dict[str, tuple[str, ...]] = {}
    for group in groups:
        if group == "ungrouped":
            continue
        group_members[group] = tuple(h for h in hosts if group in host_groups[h])
    all_vars: dict[str, Any] = {}
    for layer in source.all_layers:
        all_vars.update(layer.data)
    source.group_layers = {g: [*inline_groups.get(g, []), *group_files[g]] for g in groups}
    source.inventory = Inventory(root, hosts, group_members, MappingProxyType(all_vars))
    return source


def load_inventory(path: Path | str) -> Inventory:
    """Load the inventory directory at ``path`` (or its hosts.yml).

    Raises :class:`~pdic.errors.InventoryError` if it cannot be read: no such directory, no
    hosts.yml, a YAML syntax error (with file and line), a document that is not a mapping.
    """
    return read_inventory(path).inventory
