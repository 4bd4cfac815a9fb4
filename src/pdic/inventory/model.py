"""The inventory as pdic sees it: hosts, groups and their merged variables.

A read-only view built by :func:`pdic.inventory.loader.load_inventory`. It answers "which hosts,
at which address, in which groups, with which variables" for pyinfra, the monitoring target
generator and the compliance runner, so none of them keeps a second host list.

It does not validate anything (see :mod:`pdic.inventory.check`) and does not decrypt vault values.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdic.errors import InventoryError


@dataclass(frozen=True)
class Host:
    """One host: its inventory name, the address to reach it, its groups and merged variables.

    ``groups`` is sorted and holds every group the host belongs to, parents included (Ansible's
    ``group_names``), without ``all`` and ``ungrouped``.
    """

    name: str
    address: str
    groups: tuple[str, ...]
    vars: Mapping[str, Any] = field(hash=False)

    def get(self, key: str, default: Any = None) -> Any:
        """The host's merged value of ``key``, or ``default``."""
        return self.vars.get(key, default)


@dataclass(frozen=True)
class Inventory:
    """An Ansible YAML inventory directory, loaded.

    ``hosts`` keeps the order of hosts.yml; ``groups`` maps each group (without ``all`` and
    ``ungrouped``) to its hosts, children groups expanded, in host order; ``vars`` holds the
    all-level variables (inline ``all.vars`` overridden by group_vars/all).
    """

    path: Path
    hosts: dict[str, Host]
    groups: dict[str, tuple[str, ...]]
    vars: Mapping[str, Any] = field(hash=False)

    def host(self, name: str) -> Host:
        """The host called ``name``; InventoryError if there is none."""
        try:
            return self.hosts[name]
        except KeyError:
            raise InventoryError(f"no host {name!r} in {self.path}") from None

    def select(self, limit: str | None) -> list[Host]:
        """The hosts an Ansible-style ``--limit`` names, in inventory order.

        ``None`` (or ``all``, ``*``) selects every host. Otherwise terms separated by commas or
        colons: a host name, a group name or an fnmatch glob over both; a term starting with
        ``&`` intersects, one starting with ``!`` excludes (Ansible's order: union, then
        intersections, then exclusions). A term that matches nothing is an error, so a typo
        never silently means "no host".
        """
        if limit is None:
            return list(self.hosts.values())
        terms = [t.strip() for t in limit.replace(":", ",").split(",") if t.strip()]
        if not terms:
            raise InventoryError(f"--limit: {limit!r} names no host or group")
        union: set[str] = set()
        has_union = False
        intersections: list[set[str]] = []
        exclusions: set[str] = set()
        for term in terms:
            if term.startswith("&"):
                intersections.append(self._match(term[1:]))
            elif term.startswith("!"):
                exclusions |= self._match(term[1:])
            else:
                has_union = True
                union |= self._match(term)
        selected = union if has_union else set(self.hosts)
        for names in intersections:
            selected &= names
        selected -= exclusions
        if not selected:
            raise InventoryError(f"--limit: {limit!r} leaves no host of {self.path}")
        return [host for name, host in self.hosts.items() if name in selected]

    def _match(self, pattern: str) -> set[str]:
        """Host names one ``--limit`` term matches; InventoryError if none."""
        if pattern in ("all", "*"):
            names = set(self.hosts)
        elif pattern in self.hosts:
            names = {pattern}
        elif pattern in self.groups:
            names = set(self.groups[pattern])
        else:
            names = set(fnmatch.filter(self.hosts, pattern))
            for group in fnmatch.filter(self.groups, pattern):
                names.update(self.groups[group])
        if not names:
            raise InventoryError(f"--limit: {pattern!r} matches no host or group of {self.path}")
        return names
