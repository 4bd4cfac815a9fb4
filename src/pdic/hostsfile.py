"""/etc/hosts of every host, from the inventory: the hosts, then the names of the services.

Bootstrap (pyinfra) writes it on bare hosts and the common role keeps it (through the
``pdic_etc_hosts`` lookup), both with :func:`render_etc_hosts`, so the two writers never
disagree. Every host of the inventory is listed by address with its FQDN and short name.
Where the inventory sets ``pdic_etc_hosts_service_names: true`` (a centre without DNS for its
own names, like the lab), every name a service answers to follows: each ``portal_sites``
hostname on the first host of the ``portal`` group, each application's ``hostname`` on the
first host of its group (``pdic_applications``). The first host, because a hosts file can
give one address only: behind several hosts a name belongs in DNS or a load balancer.

It does not resolve anything, check the inventory (callers load a valid one) or write files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdic.inventory import Host, Inventory

HEADER = "# Managed by pdic from the inventory (bootstrap, common role): local changes are lost."
LOOPBACK = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
]


def service_names(inv: Inventory) -> list[tuple[str, str]]:
    """(address, name) of every service name the inventory gives, in inventory order.

    Empty unless ``pdic_etc_hosts_service_names`` is true. A name whose group has no host, or
    that is also a host's own name, is left out.
    """
    if inv.vars.get("pdic_etc_hosts_service_names") is not True:
        return []

    def first(group: str) -> Host | None:
        members = inv.groups.get(group, ())
        return inv.hosts[members[0]] if members else None

    wanted: list[tuple[str, Any]] = []
    for site in _items(inv.vars.get("portal_sites")):
        wanted.append(("portal", site.get("hostname")))
    for application in _items(inv.vars.get("pdic_applications")):
        wanted.append((str(application.get("group", "")), application.get("hostname")))
    domain = _domain(inv)
    own = {h.name for h in inv.hosts.values()} | {f"{h}.{domain}" for h in inv.hosts}
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for group, name in wanted:
        host = first(group)
        if host is None or not isinstance(name, str) or not name:
            continue
        name = name.lower()
        if name not in own and name not in seen:
            seen.add(name)
            out.append((host.address, name))
    return out


def render_etc_hosts(inv: Inventory, host: Host) -> str:
    """/etc/hosts of ``host``: loopback lines, every host by address, then the service names."""
    domain = _domain(inv)
    lines = [HEADER, *LOOPBACK]
    for other in inv.hosts.values():
        fqdn = f"{other.name}.{domain}" if domain else other.name
        names = f"{fqdn}\t{other.name}" if domain else other.name
        lines.append(f"{other.address}\t{names}")
    if host.name not in inv.hosts:  # pragma: no cover - hosts come from the inventory
        lines.append(f"127.0.1.1\t{host.name}")
    lines.extend(f"{address}\t{name}" for address, name in service_names(inv))
    return "\n".join(lines) + "\n"


def etc_hosts_by_host(inv: Inventory) -> dict[str, str]:
    """Every host's /etc/hosts, by host name (the common role's lookup)."""
    return {name: render_etc_hosts(inv, host) for name, host in inv.hosts.items()}


def _domain(inv: Inventory) -> str:
    return str(inv.vars.get("pdic_domain", "")).strip(".")


def _items(value: Any) -> list[Mapping[str, Any]]:
    return (
        [item for item in value or [] if isinstance(item, Mapping)]
        if isinstance(value, list)
        else []
    )
