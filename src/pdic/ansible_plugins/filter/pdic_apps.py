"""Ansible filters ``pdic_app_sites`` and ``pdic_app_certificates``: what nginx and pki_cert
need on a host that runs applications, from ``pdic_applications``.

They are :func:`pdic.app.model.nginx_sites` and :func:`pdic.app.model.certificates`, the same
code ``pdic app upgrade`` derives the upstream servers with, so the playbooks and the command
never disagree about nginx's upstreams. pdic is imported from the source tree the filter sits
in (``src/``), like pdic's lookups.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_SRC = str(Path(__file__).resolve().parents[3])
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

# At import, not at each call: Ansible loads the plugin once before its workers fork
# (pdic_preload), and every worker then finds pdic already imported.
from pdic.app import model  # noqa: E402


def app_sites(
    apps: Any,
    group_names: Any,
    groups: Any,
    addresses: Any,
    host_fqdn: str = "",
    tls_dir: str = "/etc/pdic/pki",
) -> list[dict[str, Any]]:
    """The nginx sites of a host (``pdic_app_sites(group_names, groups, addresses, fqdn)``)."""
    plain_groups = {str(k): [str(h) for h in v] for k, v in dict(groups).items()}
    plain_addresses = {str(k): str(v) for k, v in dict(addresses).items()}
    return list(
        model.nginx_sites(
            list(apps or []),
            [str(g) for g in group_names],
            plain_groups,
            plain_addresses,
            str(host_fqdn),
            str(tls_dir),
        )
    )


def app_certificates(apps: Any, group_names: Any) -> list[dict[str, Any]]:
    """pki_cert entries of a host: ``pdic_applications | pdic_app_certificates(group_names)``."""
    return list(model.certificates(list(apps or []), [str(g) for g in group_names]))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pdic_app_sites": app_sites, "pdic_app_certificates": app_certificates}
