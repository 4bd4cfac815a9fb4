"""The names and fixed places of pdic's applications, shared by the inventory checker, the
Ansible filters and the application commands (no imports of the rest of pdic, so that the
inventory checker can use it)."""

from __future__ import annotations

import ipaddress

ROOT = "/opt/pdic-apps"
STATE_ROOT = "/var/lib/pdic-apps"
RELEASE_TOOL = "/usr/local/sbin/pdic-app-release"
HOST_CERTIFICATE = "host"
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
# Environment variables pdic sets itself (the settings file and the unit): the inventory's
# environment and secrets may not name them.
ENV_PREFIX = "PDIC_APP_"
RESERVED_ENV = ("PROMETHEUS_MULTIPROC_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
# Longest application name: the system user pdicapp-NAME must fit 32 characters.
MAX_NAME = 24


def unit_name(name: str) -> str:
    return f"pdic-app-{name}.service"


def user_name(name: str) -> str:
    return f"pdicapp-{name}"


def upstream_name(name: str) -> str:
    """The nginx upstream of the site called ``name`` (as the nginx role writes it)."""
    return f"pdic_site_{name}"


def server_address(address: str, port: int | str) -> str:
    """``ADDRESS:PORT`` as nginx writes an upstream server (IPv6 in brackets)."""
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]:{port}"
    except ValueError:
        pass
    return f"{address}:{port}"
