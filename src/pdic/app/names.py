"""The names and fixed places of pdic's applications, shared by the inventory checker, the
Ansible filters and the application commands (of the rest of pdic, only the inventory model,
which imports nothing of pdic.app)."""

from __future__ import annotations

import ipaddress

ROOT = "/opt/pdic-apps"
STATE_ROOT = "/var/lib/pdic-apps"
RELEASE_TOOL = "/usr/local/sbin/pdic-app-release"
HOST_CERTIFICATE = "host"
# The ports and environment variables an application may not take, shared with the inventory's
# rules: defined with the inventory model, which imports nothing of pdic.app.
from pdic.inventory.model import (  # noqa: E402
    ENV_PREFIX,
    GROUP_PORTS,
    RESERVED_ENV,
    RESERVED_PORTS,
)
from pdic.inventory.model import MAX_APP_NAME as MAX_NAME  # noqa: E402

__all__ = ["ENV_PREFIX", "GROUP_PORTS", "MAX_NAME", "RESERVED_ENV", "RESERVED_PORTS"]


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
