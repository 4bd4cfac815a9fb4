"""Prometheus scrape targets from the inventory, as file_sd lists.

:func:`file_sd_targets` turns a loaded :class:`~pdic.inventory.Inventory` into one file_sd list
per scrape job; :func:`write_file_sd` loads and checks an inventory directory and writes those
lists as ``<job>.json`` files for Prometheus' ``file_sd_configs``. A host or a portal site added
to the inventory gets its targets from here, with no other edit.

Jobs (ports are the Debian packages' defaults; 9469 is pdic-exporter's):

- ``node`` (9100) and ``pdic`` (9469) on every host; ``postgres`` (9187) on ``db`` hosts;
  ``postfix`` (9154) and ``dovecot`` (9900, Dovecot's OpenMetrics listener, which the mail role
  opens) on ``mail`` hosts. Labels: ``host``, ``service``, ``env``.
- ``blackbox_https``: ``https://<hostname>/`` of every ``portal_sites`` entry, labels ``site``,
  ``agency``, ``tier`` (the agency's, from ``pdic_agencies``), ``service``, ``env``, ``module``.
- ``blackbox_mail``: ports 25 and 587 (module ``smtp_banner``) and 993 (``imaps``) of ``mail``
  hosts, as ``<host>.<pdic_domain>:<port>`` so that the IMAPS probe can check the certificate
  against the host's name; ``blackbox_healthz``: ``https://<host>.<pdic_domain>/healthz`` of
  ``eoffice`` and ``hcc`` hosts. Labels ``host``, ``service``, ``env``, ``module``. Without a
  ``pdic_domain`` the host's name stands for its FQDN.

Blackbox targets are what is probed; the Prometheus role relabels them to the blackbox
exporter (``__param_target``, ``__param_module`` from ``module``). Ordering follows the
inventory (hosts as in hosts.yml, sites as in ``portal_sites``), so the output is stable.

It does not write Prometheus' configuration, decide which jobs a centre runs (the role does),
or check that targets answer (the lab tests and the ``up`` metric do).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pdic.errors import InventoryError
from pdic.files import write_atomically
from pdic.inventory import Host, Inventory
from pdic.inventory.model import KNOWN_GROUPS

NODE_EXPORTER_PORT = 9100
PDIC_EXPORTER_PORT = 9469
POSTGRES_EXPORTER_PORT = 9187
POSTFIX_EXPORTER_PORT = 9154
DOVECOT_STATS_PORT = 9900
MAIL_PROBES = ((25, "smtp_banner"), (587, "smtp_banner"), (993, "imaps"))
HTTPS_MODULE = "https_2xx"
HEALTHZ_GROUPS = ("eoffice", "hcc")

JOBS = (
    "node",
    "pdic",
    "postgres",
    "postfix",
    "dovecot",
    "blackbox_https",
    "blackbox_mail",
    "blackbox_healthz",
)

FileSD = list[dict[str, Any]]


def file_sd_targets(inventory: Inventory) -> dict[str, FileSD]:
    """Every job of :data:`JOBS` mapped to its file_sd list (empty when it has no target).

    Each entry holds one target: ``{"targets": [target], "labels": {...}}``.
    """
    env = str(inventory.vars.get("pdic_env", inventory.path.name))
    domain = str(inventory.vars.get("pdic_domain", "")).strip(".")
    hosts = list(inventory.hosts.values())

    def members(group: str) -> list[Host]:
        return [inventory.hosts[name] for name in inventory.groups.get(group, ())]

    def host_entry(target: str, host: Host, service: str, **extra: str) -> dict[str, Any]:
        labels = {"host": host.name, "service": service, "env": env, **extra}
        return {"targets": [target], "labels": labels}

    def exporter(group_hosts: Iterable[Host], port: int, service: str | None) -> FileSD:
        return [
            host_entry(_hostport(h.address, port), h, service or _service(h)) for h in group_hosts
        ]

    def fqdn(host: Host) -> str:
        return f"{host.name}.{domain}" if domain else host.name

    healthz: FileSD = []
    for host in hosts:
        service = next((g for g in HEALTHZ_GROUPS if g in host.groups), None)
        if service is not None:
            url = f"https://{fqdn(host)}/healthz"
            healthz.append(host_entry(url, host, service, module=HTTPS_MODULE))

    return {
        "node": exporter(hosts, NODE_EXPORTER_PORT, None),
        "pdic": exporter(hosts, PDIC_EXPORTER_PORT, None),
        "postgres": exporter(members("db"), POSTGRES_EXPORTER_PORT, "db"),
        "postfix": exporter(members("mail"), POSTFIX_EXPORTER_PORT, "mail"),
        "dovecot": exporter(members("mail"), DOVECOT_STATS_PORT, "mail"),
        "blackbox_https": _site_probes(inventory, env),
        "blackbox_mail": [
            host_entry(f"{fqdn(h)}:{port}", h, "mail", module=module)
            for h in members("mail")
            for port, module in MAIL_PROBES
        ],
        "blackbox_healthz": healthz,
    }


def write_file_sd(inventory: Inventory, out_dir: Path | str) -> list[Path]:
    """Write ``<out_dir>/<job>.json`` for every job of the (checked) inventory.

    Returns the paths of all job files, in :data:`JOBS` order. A file is replaced atomically
    (Prometheus watches the directory and must never read half a file) and only when its
    content changes.
    """
    targets = file_sd_targets(inventory)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for job in JOBS:
        path = out / f"{job}.json"
        write_if_changed(path, json.dumps(targets[job], indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def _site_probes(inventory: Inventory, env: str) -> FileSD:
    """One HTTPS probe per ``portal_sites`` entry, with its agency and the agency's tier."""
    agencies = _by_id(inventory.vars.get("pdic_agencies") or [])
    entries: FileSD = []
    for i, site in enumerate(inventory.vars.get("portal_sites") or []):
        if not isinstance(site, Mapping) or not site.get("hostname") or not site.get("name"):
            raise InventoryError(
                f"{inventory.path}: portal_sites[{i}]: needs a name and a hostname "
                "(run `pdic inventory check`)"
            )
        labels = {"site": str(site["name"])}
        agency = site.get("agency")
        if agency:
            labels["agency"] = str(agency)
            tier = agencies.get(str(agency), {}).get("tier")
            if tier:
                labels["tier"] = str(tier)
        labels |= {"service": "portal", "env": env, "module": HTTPS_MODULE}
        entries.append({"targets": [f"https://{site['hostname']}/"], "labels": labels})
    return entries


def _by_id(agencies: Iterable[Any]) -> dict[str, Mapping[str, Any]]:
    return {str(a["id"]): a for a in agencies if isinstance(a, Mapping) and a.get("id")}


def _service(host: Host) -> str:
    """The service a host provides: its first group among pdic's services, else its first."""
    return next(
        (g for g in KNOWN_GROUPS if g in host.groups), host.groups[0] if host.groups else ""
    )


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def write_if_changed(path: Path, content: str) -> None:
    """Replace ``path`` with ``content`` atomically (mode 0644), only when the content differs."""
    if path.is_file() and path.read_text(encoding="utf-8") == content:
        return
    write_atomically(path, content.encode("utf-8"))
