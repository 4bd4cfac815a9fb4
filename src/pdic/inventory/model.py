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

# -- what the rest of pdic shares with the inventory's rules --------------------------------

KNOWN_GROUPS = ("portal", "eoffice", "hcc", "mail", "db", "backup", "pki", "monitoring")
"""The service groups every centre has (``pdic_extra_groups`` lists others)."""
REQUIRED_VARS = ("pdic_env", "pdic_domain", "pdic_network", "pdic_ops_user", "pdic_timezone")
DATA_KEYS = (
    "pdic_agencies",
    "portal_sites",
    "pdic_applications",
    "mail_domains",
    "mail_mailboxes",
    "mail_aliases",
    "postgresql_roles",
    "postgresql_databases",
)
"""Province data: all-level lists, never a group's or a host's."""
TIERS = ("province", "district", "commune")
MAILBOX_STATES = ("active", "disabled")
POSTGRESQL_ROLES = ("primary", "replica")
# Ports an application may not take on its hosts: the services every host or every
# application host already runs there.
RESERVED_PORTS = {
    22: "ssh",
    80: "nginx",
    443: "nginx",
    9100: "the node exporter",
    9469: "the pdic exporter",
}
# Ports the roles of another group take on that group's hosts: an application whose group shares
# a host with it may not take them there either. The mail role's (its defaults and vars, and
# Debian's rspamd): the Postfix exporter, Dovecot's OpenMetrics and quota-status listeners,
# OpenDKIM's milter, rspamd's milter proxy, scanner and controller (all but the first two on the
# loopback address, which an application server bound to every address would take as well).
GROUP_PORTS = {
    "mail": {
        8891: "OpenDKIM",
        9154: "the Postfix exporter",
        9900: "Dovecot's metrics",
        11332: "rspamd's milter",
        11333: "rspamd's scanner",
        11334: "rspamd's controller",
        12340: "Dovecot's quota-status service",
    },
    # roles/postgresql, postgres_exporter and pgbackrest (its TLS server) on the database hosts;
    # pgbackrest's TLS server on the repository host.
    "db": {5432: "PostgreSQL", 8432: "pgBackRest's TLS server", 9187: "the PostgreSQL exporter"},
    "backup": {8432: "pgBackRest's TLS server"},
    # The monitoring roles on the monitoring hosts.
    "monitoring": {
        3000: "Grafana",
        9090: "Prometheus",
        9093: "Alertmanager",
        9115: "the blackbox exporter",
    },
}
# Environment variables pdic sets itself for an application (the settings file and the unit):
# the inventory's environment and secrets may not name them.
ENV_PREFIX = "PDIC_APP_"
RESERVED_ENV = ("PROMETHEUS_MULTIPROC_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
# Longest application name: the system user pdicapp-NAME must fit 32 characters.
MAX_APP_NAME = 24


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
