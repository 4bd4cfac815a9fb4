"""What every rule module works with: the loaded inventory with its provenance, the problems
found so far, what earlier rules learnt (agencies, mail domains...), and the helpers that check
the province's data lists as declared by :class:`ListSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pdic.inventory.loader import KeyPath, Layer, Problem, Source
from pdic.inventory.values import Validator, shorten_values, templated

Items = list[tuple[int, Mapping[str, Any]]]


@dataclass(frozen=True)
class Field:
    """One key of a data list's items."""

    required: bool = False
    rule: Validator | None = None
    """The value's validator (not applied to an empty value)."""
    unique: str | None = None
    """Unique within the list; the word for a duplicate (``duplicate agency 'x'``)."""
    fold: bool = False
    """Compared without case (DNS names, mail addresses)."""
    references: tuple[str, str] | None = None
    """(list, field): the value is one of that list's unique field (``agency`` ->
    ``("pdic_agencies", "id")``)."""


@dataclass(frozen=True)
class ListSpec:
    """An all-level data list of mappings (``pdic_agencies``, ``mail_mailboxes``...)."""

    key: str
    fields: Mapping[str, Field] = field(default_factory=dict)


class Context:
    """One inventory being checked."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.inventory = source.inventory
        self.problems: list[Problem] = list(source.notes)
        self.index: dict[tuple[str, str], dict[str, int]] = {}
        """Unique values of a data list's field -> their position (``ListSpec`` fields with
        ``unique``), for the rules that refer to them: ``index["pdic_agencies", "id"]``."""

    def known(self, key: str, name: str) -> dict[str, int]:
        """The index of list ``key``'s unique field ``name`` ({} before its rule ran)."""
        return self.index.get((key, name), {})

    def check_list(self, spec: ListSpec) -> tuple[Items, Layer | None]:
        """The items of the all-level list ``spec.key``, checked as ``spec`` declares: known
        and required keys, each field's validator, unique fields (indexed in ``index``) and
        references to another list's unique field."""
        items, layer = self.items(spec.key, {n: f.required for n, f in spec.fields.items()})
        if layer is None:
            return items, layer
        rules = {n: f.rule for n, f in spec.fields.items() if f.rule is not None}
        self.validate(layer, spec.key, items, rules)
        for name, f in spec.fields.items():
            if f.unique is not None:
                self.index[spec.key, name] = self.unique(
                    layer, spec.key, items, name, f.unique, fold=f.fold
                )
        for name, f in spec.fields.items():
            if f.references is not None:
                other, other_field = f.references
                self.reference(layer, spec.key, items, name, self.known(other, other_field), other)
        return items, layer

    def add(self, file: str, path: KeyPath, message: str) -> None:
        self.problems.append(self.source.problem(file, path, shorten_values(message)))

    def at(self, layer: Layer, path: KeyPath, message: str) -> None:
        self.add(layer.file, (*layer.prefix, *path), message)

    def var(self, key: str) -> tuple[Any, Layer] | None:
        """The all-level value of ``key`` and the layer it comes from."""
        layer = self.source.origin(self.source.all_layers, key)
        return None if layer is None else (layer.data[key], layer)

    def items(self, key: str, fields: dict[str, bool]) -> tuple[Items, Layer | None]:
        """The mapping items of list ``key``, after the checks common to all data lists.

        ``fields`` maps each allowed item key to whether it is required. Items that are not
        mappings are reported and left out; empty (None) optional values are dropped.
        """
        found = self.var(key)
        if found is None:
            return [], None
        value, layer = found
        if not isinstance(value, list):
            self.at(layer, (key,), "must be a list of mappings")
            return [], layer
        out: Items = []
        for i, item in self.mapping_items(layer, key, value, fields):
            out.append((i, {k: v for k, v in item.items() if k in fields and v is not None}))
        return out, layer

    def mapping_items(
        self, layer: Layer, key: str, value: list[Any], fields: dict[str, bool]
    ) -> Items:
        """The items of ``value`` (list ``key`` of ``layer``) that are mappings; every item that
        is not one, every unknown key and every required key missing or empty is reported."""
        expected = ", ".join(sorted(fields))
        out: Items = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                self.at(layer, (key, i), "must be a mapping")
                continue
            for name in item:
                if name not in fields:
                    self.at(layer, (key, i, name), f"unknown key {name!r} (expected: {expected})")
            for name, required in fields.items():
                if required and name not in item:
                    self.at(layer, (key, i), f"missing required key {name!r}")
                elif required and item[name] in (None, ""):
                    self.at(layer, (key, i, name), "must not be empty")
            out.append((i, item))
        return out

    def validate(self, layer: Layer, key: str, items: Items, rules: dict[str, Validator]) -> None:
        for i, item in items:
            for name, rule in rules.items():
                if name in item and item[name] != "":
                    problem = rule(item[name])
                    if problem:
                        self.at(layer, (key, i, name), problem)

    def unique(
        self, layer: Layer, key: str, items: Items, name: str, what: str, fold: bool = False
    ) -> dict[str, int]:
        """Index of ``item[name]`` -> item position; later duplicates are reported."""
        first: dict[str, int] = {}
        for i, item in items:
            value = item.get(name)
            if not isinstance(value, str) or not value:
                continue
            value = value.lower() if fold else value
            if value in first:
                self.at(
                    layer,
                    (key, i, name),
                    f"duplicate {what} {item[name]!r} (first at {key}[{first[value]}])",
                )
            else:
                first[value] = i
        return first

    def reference(
        self, layer: Layer, key: str, items: Items, name: str, known: Mapping[str, int], of: str
    ) -> None:
        for i, item in items:
            value = item.get(name)
            if isinstance(value, str) and value and value not in known:
                self.at(layer, (key, i, name), f"unknown {name} {value!r} (not in {of})")

    def raw_items(self, key: str) -> list[Mapping[str, Any]]:
        """The mapping items of the all-level list ``key``, unchecked ([] if it is no list)."""
        found = self.var(key)
        value = found[0] if found else None
        return [x for x in value if isinstance(x, Mapping)] if isinstance(value, list) else []

    def layers_with(self, key: str) -> list[Layer]:
        """Every layer (all level, group, host; each once) that sets ``key``."""
        seen: dict[int, Layer] = {}
        candidates = [*self.source.all_layers]
        for group_layers in self.source.group_layers.values():
            candidates.extend(group_layers)
        for host_layers in self.source.host_layers.values():
            candidates.extend(host_layers)
        for layer in candidates:
            if key in layer.data:
                seen.setdefault(id(layer), layer)
        return list(seen.values())

    def mappings(self, layer: Layer, key: str, fields: dict[str, bool]) -> Items:
        """The mapping items of list ``key`` in ``layer`` (not a Jinja expression)."""
        value = layer.data[key]
        if templated(value):
            return []
        if not isinstance(value, list):
            self.at(layer, (key,), "must be a list of mappings")
            return []
        return self.mapping_items(layer, key, value, fields)

    def layers(self) -> list[Layer]:
        """Every variable layer once: all, groups, hosts."""
        seen: dict[int, Layer] = {id(x): x for x in self.source.all_layers}
        for layers in [*self.source.group_layers.values(), *self.source.host_layers.values()]:
            seen.update((id(x), x) for x in layers)
        return list(seen.values())

    def group_list(self, layer: Layer, path: KeyPath, value: Any) -> None:
        """A list of groups: ``all`` or groups of hosts.yml."""
        if isinstance(value, str) and "{{" in value:
            return
        if not isinstance(value, list):
            self.at(layer, path, "must be a list of inventory groups")
            return
        for j, group in enumerate(value):
            if group != "all" and group not in self.inventory.groups:
                self.at(
                    layer,
                    (*path, j),
                    f"unknown group {group!r} (not in {self.source.hosts_file})",
                )
