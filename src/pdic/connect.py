"""Connections to inventory hosts for checks: testinfra hosts as the operations account.

One place says how pdic reaches a host after bootstrap (the audit runner and the lab tests use
it): paramiko over SSH as ``ansible_user`` (else ``pdic_ops_user``) with the inventory's key,
commands through sudo. It deliberately installs nothing on the hosts.
"""

from __future__ import annotations

from typing import Any

import testinfra

from pdic.inventory import Host


def testinfra_host(host: Host, *, sudo: bool = True, timeout: int = 10) -> Any:
    """A pytest-testinfra host for ``host`` (no connection is made until the first command)."""
    user = host.get("ansible_user") or host.get("pdic_ops_user") or "root"
    kwargs: dict[str, Any] = {"sudo": sudo, "timeout": timeout}
    key = host.get("ansible_ssh_private_key_file")
    if key:
        kwargs["ssh_identity_file"] = str(key)
    port = host.get("ansible_port")
    netloc = f"{user}@{host.address}" + (f":{port}" if port else "")
    return testinfra.get_host(f"paramiko://{netloc}", **kwargs)
