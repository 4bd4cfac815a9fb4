"""The order of a patch wave and each host's health checks: pure functions of the inventory.

Every host serves one service group: the first of its inventory groups, except that the
database group is two, ``db primary`` and ``db replica`` (``postgresql_role``). The wave goes
group by group in inventory order, with the replicas just before the primary and the
monitoring group last (it watches the others while they change). Within a group, at most
``serial`` hosts are changed at once, and never all of it: a group of three with
``--serial 5`` goes two, then one. A host that is its group's only member (a replica
excepted: the primary still serves) is an outage while it changes: it is patched only with
``--allow-outage``, and otherwise listed as skipped.

The health checks say what to ask after the change, not how: :mod:`pdic.patch.transport`
runs them (from the controller for a network check, on the host over SSH otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pdic.app.model import applications
from pdic.app.names import server_address
from pdic.inventory import Host, Inventory

MONITORING = "monitoring"
DB_PRIMARY = "db primary"
DB_REPLICA = "db replica"
MAIL_PORTS = (25, 465, 587, 993)
PROMETHEUS_PORT = 9090
MAX_REPLICA_LAG_BYTES = 16 * 1024 * 1024
"""A replica more than 16 MiB of WAL behind after its patch is not healthy."""
TRUST_DIR = "/usr/local/share/ca-certificates/pdic"
"""Where role pki_trust puts the centre's roots on every host (named after pki_ca_root)."""

CONTROLLER = "controller"
ON_HOST = "host"


@dataclass(frozen=True)
class Check:
    """One health check of a host: its name, what kind, and where it runs from."""

    name: str
    kind: str
    """``https`` (a site, verified against the centre's root), ``tcp``, ``http`` (an answer
    2xx), ``healthz`` (an application's, on the host), ``replica``, ``primary``,
    ``pgbackrest``, ``units`` (no unit failed that did not before)."""
    where: str
    address: str = ""
    port: int = 0
    server_name: str = ""
    path: str = "/"
    stanza: str = ""


@dataclass(frozen=True)
class Group:
    """A service group of the wave: its name, its hosts in the selection (in order) and how
    many members it has in the whole inventory."""

    name: str
    hosts: tuple[str, ...]
    members: int

    @property
    def alone(self) -> bool:
        """Changing this host stops the service: the group has no other member."""
        return self.members == 1 and self.name != DB_REPLICA


@dataclass
class Plan:
    groups: list[Group] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Host -> why it is not patched."""

    @property
    def order(self) -> list[str]:
        return [h for g in self.groups for h in g.hosts]

    def group_of(self, host: str) -> Group:
        return next(g for g in self.groups if host in g.hosts)


def service_group(host: Host) -> str:
    """The service group ``host`` serves (see the module's docstring)."""
    groups = [g for g in host.groups if g not in ("all", "ungrouped")]
    first = groups[0] if groups else "ungrouped"
    if first == "db":
        return DB_PRIMARY if host.get("postgresql_role") == "primary" else DB_REPLICA
    return first


def plan(inventory: Inventory, selected: Sequence[Host], allow_outage: bool = False) -> Plan:
    """The wave's groups in order, and the hosts skipped as their group's only member."""
    members: dict[str, list[str]] = {}
    for host in inventory.hosts.values():
        members.setdefault(service_group(host), []).append(host.name)
    chosen = {h.name for h in selected}
    names = list(members)
    if DB_REPLICA in names and DB_PRIMARY in names:
        names.remove(DB_REPLICA)
        names.insert(names.index(DB_PRIMARY), DB_REPLICA)
    if MONITORING in names:
        names.remove(MONITORING)
        names.append(MONITORING)
    result = Plan()
    for name in names:
        hosts = tuple(h for h in members[name] if h in chosen)
        if not hosts:
            continue
        group = Group(name, hosts, len(members[name]))
        if group.alone and not allow_outage:
            for alone in hosts:
                result.skipped[alone] = f"single member of {name}, use --allow-outage"
            continue
        result.groups.append(group)
    return result


def batches(group: Group, todo: Sequence[str], serial: int) -> list[list[str]]:
    """The hosts of ``group`` in ``todo`` (in the group's order), at most ``serial`` at a time
    and never every member of the group."""
    size = serial if group.members == 1 else max(1, min(serial, group.members - 1))
    hosts = [h for h in group.hosts if h in todo]
    return [hosts[i : i + size] for i in range(0, len(hosts), size)]


def root_ca(inventory: Inventory) -> tuple[str, str] | None:
    """(CA host, path of the centre's root certificate there), None without a CA."""
    root = inventory.vars.get("pki_ca_root")
    ca_hosts = inventory.groups.get("pki", ())
    if not isinstance(root, dict) or not root.get("name") or not ca_hosts:
        return None
    return ca_hosts[0], f"{TRUST_DIR}/{root['name']}.crt"


def checks(inventory: Inventory, host: Host) -> list[Check]:
    """What must be healthy on ``host`` after its patch, from what the inventory deploys."""
    out = [Check("systemd units", "units", ON_HOST)]
    group = service_group(host)
    if "portal" in host.groups:
        for site in inventory.vars.get("portal_sites") or []:
            if isinstance(site, dict) and site.get("hostname"):
                name = str(site["hostname"])
                out.append(Check(f"https {name}", "https", CONTROLLER, host.address, 443, name))
    for app in applications(inventory):
        if app.group in host.groups:
            out.append(Check(f"{app.name} /healthz", "healthz", ON_HOST, port=app.port))
    if "mail" in host.groups:
        for port in MAIL_PORTS:
            out.append(Check(f"mail port {port}", "tcp", CONTROLLER, host.address, port))
    stanza = str(inventory.vars.get("pgbackrest_stanza") or "main")
    if group == DB_REPLICA:
        out.append(Check("replica streaming", "replica", ON_HOST))
    if group == DB_PRIMARY:
        out.append(Check("postgresql primary", "primary", ON_HOST))
    if group in (DB_PRIMARY, "backup"):
        out.append(Check("pgbackrest check", "pgbackrest", ON_HOST, stanza=stanza))
    if group == MONITORING:
        out.append(
            Check(
                "prometheus ready",
                "http",
                CONTROLLER,
                host.address,
                PROMETHEUS_PORT,
                path="/-/ready",
            )
        )
    return out


def upstreams(inventory: Inventory) -> list[tuple[str, str, dict[str, str]]]:
    """The nginx upstreams of the applications whose group has peers: (application, upstream,
    host -> its server address); each host of the group is also a proxy of it."""
    out = []
    for app in applications(inventory):
        members = inventory.groups.get(app.group, ())
        if len(members) > 1:
            servers = {h: server_address(inventory.hosts[h].address, app.port) for h in members}
            out.append((app.name, app.upstream, servers))
    return out
