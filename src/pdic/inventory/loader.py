"""Read an Ansible YAML inventory directory into an :class:`~pdic.inventory.model.Inventory`.

Reads what Ansible reads from an inventory directory (``ansible-playbook -i DIR``): every
inventory file in it, in name order, subdirectories included (Ansible's YAML inventory format:
groups with ``hosts``, ``vars`` and ``children``; ``hosts.yml`` by convention), and
``group_vars/<group>`` and ``host_vars/<host>`` as Ansible's host_group_vars plugin finds them
(the first of ``<name>``, ``<name>.yml``, ``<name>.yaml``, ``<name>.json`` that exists; a
directory is read recursively, each level in name order, hidden and ``~`` entries skipped). A
file Ansible would read that pdic cannot read the same way (an INI or script inventory, an
inventory plugin's configuration, a dangling or looping symbolic link, an unreadable path) is
refused with one line naming it. Each host's variables are merged in the order ansible-core
2.19 does with its default settings (checked against ``ansible-inventory --list --export`` by
the tests), lowest first:

1. inline ``all.vars`` of hosts.yml;
2. inline ``vars`` of the host's groups, parents before children, then by name;
3. group_vars/all;
4. group_vars/<group> of the host's groups, in the same order;
5. the host's inline vars in the inventory files (in file order when it is listed more than once);
6. host_vars/<host>.

YAML that would be read wrongly is refused: a key given twice in one mapping (YAML keeps the
last silently; both lines are named) and aliases that expand to more than
:data:`ALIAS_EXPANSION_LIMIT` values (an alias bomb).

A later level replaces a top-level key entirely (no deep merge, as Ansible's default
``hash_behaviour = replace``). Values tagged ``!vault`` load as opaque :class:`VaultValue`
objects; files that are vault-encrypted as a whole are skipped; Jinja expressions stay raw
strings. Nothing is templated or decrypted.

The loader refuses what it cannot read (no directory or inventory file, a YAML syntax error, a
document that is not a mapping, the cases above); everything else it records for
:mod:`pdic.inventory.check`, together with where each value came from, so problems can name
their file and key.
"""

from __future__ import annotations

import errno
import os
import re
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
# ansible-core's defaults: what a directory inventory skips (INVENTORY_IGNORE_EXTS, with
# REJECT_EXTS, and the names it always ignores).
INVENTORY_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
    + "|".join(
        re.escape(ext) + "$"
        for ext in (
            *(".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst"),
            *(".orig", ".cfg", ".retry"),
        )
    )
)
ALIAS_EXPANSION_LIMIT = 10_000
"""Values that YAML aliases may add to a document beyond those written in it."""
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
    inventory_files: list[str] = field(default_factory=list)
    all_layers: list[Layer] = field(default_factory=list)
    host_layers: dict[str, list[Layer]] = field(default_factory=dict)
    group_layers: dict[str, list[Layer]] = field(default_factory=dict)
    group_places: dict[str, tuple[str, KeyPath]] = field(default_factory=dict)
    host_places: dict[str, list[tuple[str, KeyPath]]] = field(default_factory=dict)
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


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping that gives one key twice."""


MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that also reads Ansible's ``!vault`` and ``!unsafe`` tags and refuses
    a key given twice in one mapping (YAML itself keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if first is not key_node:
                raise DuplicateKeyError(
                    problem=(
                        f"duplicate key {key!r} (first at line {first.start_mark.line + 1}; "
                        "YAML would keep only the last)"
                    ),
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


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


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias expanded (memoised per node)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _load(text: str, rel: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        memo: dict[int, int] = {}
        expanded = _expanded_size(node, memo)
        written = len(memo)  # each distinct node once: what the document writes
        if expanded - written > ALIAS_EXPANSION_LIMIT:
            raise InventoryError(
                f"{rel}: (file): YAML aliases expand to {expanded:,} values from {written:,} "
                f"written (more than {ALIAS_EXPANSION_LIMIT:,} added: an alias bomb?); "
                "write the values out"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(root: Path, rel: str) -> Any:
    """The document of ``root/rel``, or ENCRYPTED; InventoryError if it cannot be read."""
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{rel}: (file): cannot read: {_reason(exc)}") from None
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return ENCRYPTED
    try:
        return _load(text, rel)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        what = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, DuplicateKeyError):
            raise InventoryError(f"{rel}: {where}: {what}") from None
        if exc.problem and exc.context and exc.context_mark:
            what += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise InventoryError(f"{rel}: {where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{rel}: (file): YAML syntax error: {exc}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "empty"}.get(
        type(value), type(value).__name__
    )


def _refuse_link(root: Path, path: Path) -> None:
    """InventoryError for a symbolic link that leads nowhere (dangling or looping)."""
    rel = path.relative_to(root).as_posix()
    try:
        path.stat()
    except OSError as exc:
        what = "looping" if exc.errno == errno.ELOOP else "dangling"
        raise InventoryError(
            f"{rel}: (file): {what} symbolic link to {os.readlink(path)!r} "
            "(Ansible would skip it silently); fix or remove it"
        ) from None


def _listdir(root: Path, directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError as exc:
        rel = directory.relative_to(root).as_posix() or "."
        raise InventoryError(f"{rel}: (directory): cannot read: {_reason(exc)}") from None


def _walk_vars_dir(root: Path, directory: Path) -> list[str]:
    """Ansible's DataLoader._get_dir_vars_files: each level in name order, hidden and ``~``
    entries skipped, subdirectories without an extension recursed, files with no extension
    or a YAML one read."""
    found: list[str] = []
    for name in _listdir(root, directory):
        if name.startswith(".") or name.endswith("~"):
            continue
        path = directory / name
        if path.is_symlink():
            _refuse_link(root, path)
        ext = os.path.splitext(name)[1]
        if path.is_dir() and not ext:
            found.extend(_walk_vars_dir(root, path))
        elif path.is_file() and (not ext or ext in VARS_SUFFIXES):
            found.append(path.relative_to(root).as_posix())
    return found


def _vars_files(root: Path, kind: str, name: str) -> list[str]:
    """group_vars/<name> or host_vars/<name>, as Ansible finds them: the first of ``<name>``,
    ``<name>.yml``, ``<name>.yaml`` and ``<name>.json`` that exists (a directory read whole)."""
    base = root / kind
    chosen: Path | None = None
    for ext in ("", *VARS_SUFFIXES):
        path = base / (name + ext)
        if path.is_symlink():
            _refuse_link(root, path)
        if not path.exists():
            continue
        if chosen is not None:
            shown = chosen.relative_to(root).as_posix() + ("/" if chosen.is_dir() else "")
            raise InventoryError(
                f"{path.relative_to(root).as_posix()}: (file): Ansible does not read it, since "
                f"{shown} exists (the first of {name}, {name}.yml, {name}.yaml, {name}.json "
                "wins); move its variables there"
            )
        chosen = path
    if chosen is None:
        return []
    if chosen.is_dir():
        return _walk_vars_dir(root, chosen)
    return [chosen.relative_to(root).as_posix()]


def _vars_names(root: Path, kind: str) -> list[str]:
    """Names that have a group_vars/ or host_vars/ entry Ansible would read for that name."""
    base = root / kind
    if base.is_symlink():
        _refuse_link(root, base)
    if not base.is_dir():
        return []
    names = set()
    for entry in _listdir(root, base):
        path = base / entry
        if entry.startswith(".") or entry.endswith("~"):
            continue
        if path.is_symlink():
            _refuse_link(root, path)
        stem, ext = os.path.splitext(entry)
        if not ext:
            names.add(entry)
        elif ext in VARS_SUFFIXES and path.is_file():
            names.add(stem)
    return sorted(names)


def inventory_files(root: Path) -> list[str]:
    """The inventory sources Ansible reads from the directory ``root``, in its order: every
    entry in name order, subdirectories recursed, except what it ignores (hidden names,
    group_vars, host_vars, vars_plugins and backup or documentation extensions).
    InventoryError for one pdic would not read as Ansible does."""
    found: list[str] = []

    def walk(directory: Path) -> None:
        for name in _listdir(root, directory):
            if INVENTORY_IGNORED.search(name):
                continue
            path = directory / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                _refuse_link(root, path)
            if path.is_dir():
                walk(path)
            elif path.suffix not in VARS_SUFFIXES:
                raise InventoryError(
                    f"{rel}: (file): Ansible reads every file in the inventory directory as an "
                    "inventory source, and pdic reads only YAML inventories (.yml, .yaml, "
                    ".json); convert it or move it out of the directory"
                )
            else:
                found.append(rel)

    walk(root)
    return found


class _Builder:
    """Walks hosts.yml the way Ansible's YAML inventory plugin does."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.file = source.hosts_file  # the inventory file being walked
        self.parents: dict[str, set[str]] = {"all": set()}
        self.direct: dict[str, list[str]] = {"all": []}
        self.host_inline: dict[str, list[Layer]] = {}

    def note(self, path: KeyPath, message: str) -> None:
        self.source.notes.append(self.source.problem(self.file, path, message))

    def group(self, name: str, data: Any, path: KeyPath, parent: str | None) -> None:
        self.source.group_places.setdefault(name, (self.file, path))
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
        self.source.host_places.setdefault(name, []).append((self.file, path))
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
    files = [given.name] if given.is_file() else inventory_files(root)
    if not files:
        raise InventoryError("hosts.yml: (file): missing (an inventory directory needs hosts.yml)")
    hosts_file = next((name for name in HOSTS_FILES if name in files), files[0])
    placeholder = Inventory(root, {}, {}, MappingProxyType({}))
    source = Source(placeholder, hosts_file, inventory_files=files)
    builder = _Builder(source)
    for rel in files:
        doc = read_yaml(root, rel)
        if doc is ENCRYPTED:
            raise InventoryError(f"{rel}: (file): is vault-encrypted; pdic reads it only in clear")
        if not isinstance(doc, Mapping):
            raise InventoryError(
                f"{rel}: (file): must be a mapping of groups, not {_type_name(doc)}"
            )
        if "plugin" in doc:
            raise InventoryError(
                f"{rel}: plugin: an inventory plugin's configuration ({doc['plugin']!r}): pdic "
                "reads static YAML inventories only; move it out of the inventory directory"
            )
        source.docs[rel] = doc
        builder.file = rel
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
            found = _vars_files(root, "group_vars", name)
            file = found[0] if found else f"group_vars/{name}"
            source.notes.append(Problem(file, "(file)", f"no group {name!r} in {hosts_file}"))
    for name in _vars_names(root, "host_vars"):
        if name not in source.host_places:
            found = _vars_files(root, "host_vars", name)
            file = found[0] if found else f"host_vars/{name}"
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
