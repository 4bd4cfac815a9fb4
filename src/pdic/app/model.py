"""The applications of an inventory (``pdic_applications``) and the names derived from them.

One place says how an application is laid out on its hosts, so that role app_service (through
the ``pdic_apps`` filters), nginx's sites and ``pdic app upgrade`` never disagree:

- its unit ``pdic-app-NAME.service`` runs as the system user ``pdicapp-NAME``;
- releases are unpacked side by side under ``/opt/pdic-apps/NAME/releases/VERSION``, with the
  links ``current`` and ``previous`` and the history of switches (``pdic-app-release`` on the
  host keeps them);
- nginx on every host of the application's group serves its ``hostname`` and balances over the
  application servers of all those hosts (``ADDRESS:PORT``), in the upstream the nginx role
  names ``pdic_site_NAME``; the first application of a host also answers on the host's own
  name (``https://HOST.DOMAIN/``, the monitoring's health probe) from the local server only;
- its certificate is pki_cert's ``site-NAME`` for its hostname.

The functions over plain data (lists of mappings as the inventory gives them) serve the Ansible
filters; :func:`applications` gives typed values to the Python commands. Nothing here checks
the inventory (:mod:`pdic.inventory.check` does) or reaches a host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pdic.app.names import (
    HOST_CERTIFICATE,
    server_address,
    unit_name,
    upstream_name,
)
from pdic.errors import PdicError
from pdic.inventory.model import Host, Inventory


class AppError(PdicError):
    """An application command got bad input or a step on a host failed."""


@dataclass(frozen=True)
class Artifact:
    """One versioned archive of an application: where it comes from and its checksum."""

    version: str
    source: str
    sha256: str

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Application:
    """One entry of ``pdic_applications``, as the inventory checker accepts it."""

    name: str
    group: str
    hostname: str
    port: int
    version: str
    artifacts: tuple[Artifact, ...]
    title: str = ""
    database: str | None = None
    db_role: str | None = None
    environment: Mapping[str, Any] = field(default_factory=dict, hash=False)
    secrets: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def unit(self) -> str:
        return unit_name(self.name)

    @property
    def upstream(self) -> str:
        return upstream_name(self.name)

    def artifact(self, version: str) -> Artifact:
        """The artifact of ``version``; AppError naming the known versions if there is none."""
        for artifact in self.artifacts:
            if artifact.version == str(version):
                return artifact
        known = ", ".join(a.version for a in self.artifacts) or "none"
        raise AppError(
            f"{self.name}: no artifact of version {version!r} in pdic_applications "
            f"(versions: {known})"
        )


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [x for x in value if isinstance(x, Mapping)] if isinstance(value, list) else []


def applications(inventory: Inventory) -> list[Application]:
    """The inventory's applications, in its order (a checked inventory is assumed)."""
    out = []
    for item in _items(inventory.vars.get("pdic_applications")):
        artifacts = tuple(
            Artifact(str(a.get("version")), str(a.get("source")), str(a.get("sha256", "")).lower())
            for a in _items(item.get("artifacts"))
        )
        out.append(
            Application(
                name=str(item["name"]),
                group=str(item["group"]),
                hostname=str(item["hostname"]),
                port=int(item["port"]),
                version=str(item["version"]),
                artifacts=artifacts,
                title=str(item.get("title") or ""),
                database=item.get("database"),
                db_role=item.get("db_role"),
                environment=dict(item.get("environment") or {}),
                secrets=dict(item.get("secrets") or {}),
            )
        )
    return out


def application(inventory: Inventory, name: str) -> Application:
    """The application called ``name``; AppError listing the known ones if there is none."""
    found = {a.name: a for a in applications(inventory)}
    if name not in found:
        known = ", ".join(found) or "none"
        raise AppError(f"no application {name!r} in pdic_applications (applications: {known})")
    return found[name]


def app_hosts(inventory: Inventory, app: Application) -> list[Host]:
    """The hosts that run ``app`` (its group), in inventory order; AppError if there are none."""
    hosts = [inventory.hosts[n] for n in inventory.groups.get(app.group, ())]
    if not hosts:
        raise AppError(f"{app.name}: group {app.group!r} has no host")
    return hosts


# -- over plain data, for the Ansible filters -------------------------------------------------


def mine(apps: Sequence[Mapping[str, Any]], group_names: Sequence[str]) -> list[Mapping[str, Any]]:
    """The applications a host runs: those whose group is one of the host's."""
    groups = set(group_names)
    return [a for a in _items(list(apps)) if a.get("group") in groups]


def nginx_sites(
    apps: Sequence[Mapping[str, Any]],
    group_names: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    addresses: Mapping[str, str],
    host_fqdn: str = "",
    tls_dir: str = "/etc/pdic/pki",
    host_certificate: str = HOST_CERTIFICATE,
) -> list[dict[str, Any]]:
    """The nginx sites (role nginx's ``nginx_sites``) of a host that runs applications.

    Each application of the host answers on its ``hostname`` and proxies everything to the
    servers of every host of its group. The first one also answers on ``host_fqdn`` (when
    given), with the host's own certificate, from this host's server only: what the health
    probe of the host (``https://HOST.DOMAIN/healthz``) reaches.
    """
    sites: list[dict[str, Any]] = []
    own = mine(apps, group_names)
    for app in own:
        servers = [server_address(addresses[h], app["port"]) for h in groups.get(app["group"], [])]
        sites.append(
            {
                "name": str(app["name"]),
                "hostname": str(app["hostname"]),
                "title": str(app.get("title") or app["name"]),
                "agency_name": "",
                "upstream": servers,
                "upstream_path": "/",
            }
        )
    if own and host_fqdn:
        first = own[0]
        sites.append(
            {
                "name": f"{first['name']}-host",
                "hostname": host_fqdn,
                "title": str(first.get("title") or first["name"]),
                "agency_name": "",
                "tls": {
                    "certificate": f"{tls_dir}/{host_certificate}.fullchain.pem",
                    "key": f"{tls_dir}/{host_certificate}.key",
                },
                "upstream": [server_address("127.0.0.1", first["port"])],
                "upstream_path": "/",
            }
        )
    return sites


def certificates(
    apps: Sequence[Mapping[str, Any]], group_names: Sequence[str]
) -> list[dict[str, Any]]:
    """pki_cert entries for the applications a host runs: ``site-NAME`` for each hostname."""
    return [
        {"name": f"site-{a['name']}", "common_name": str(a["hostname"]), "reload": ["nginx"]}
        for a in mine(apps, group_names)
    ]
