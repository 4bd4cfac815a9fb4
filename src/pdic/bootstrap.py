"""Bootstrap bare hosts with pyinfra, so that Ansible can take over.

A bare host is reachable as root by key and may have no Python. pyinfra (its Python API, one
process, no shell-out) makes it ready: the apt proxy where the inventory asks for one, python3
and the few packages Ansible needs, hostname, /etc/hosts from the inventory
(:mod:`pdic.hostsfile`), timezone, a time sync daemon, and the operations account with sudo and
its SSH key. A second run changes nothing.

It reads hosts through pdic's one inventory loader. It deliberately does not configure services:
that is Ansible's job (`pdic deploy`), and the common role owns the time sync configuration.

paramiko leaves Nagle's algorithm on; small command round trips then wait on delayed ACKs
(on these machines, before pdic: 50 pyinfra operations took 8.9 s without TCP_NODELAY and
1.1 s with it; pdic has no benchmark of its own for this yet), so every connection gets
TCP_NODELAY right after it is made.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import io  # noqa: E402
import socket  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from pyinfra.api.config import Config  # noqa: E402
from pyinfra.api.connect import connect_all, disconnect_all  # noqa: E402
from pyinfra.api.exceptions import PyinfraError  # noqa: E402
from pyinfra.api.inventory import Inventory as PyinfraInventory  # noqa: E402
from pyinfra.api.operation import add_op  # noqa: E402
from pyinfra.api.operations import run_ops  # noqa: E402
from pyinfra.api.state import State  # noqa: E402
from pyinfra.facts.deb import DebPackages  # noqa: E402
from pyinfra.facts.files import File  # noqa: E402
from pyinfra.operations import apt, files, server  # noqa: E402

from pdic.connect import KEEPALIVE_SECONDS, trust  # noqa: E402
from pdic.errors import BootstrapError  # noqa: E402
from pdic.hostsfile import render_etc_hosts  # noqa: E402
from pdic.inventory import Host, Inventory  # noqa: E402

BOOTSTRAP_PACKAGES = ["python3", "python3-apt", "sudo", "tzdata", "chrony", "ca-certificates"]
PROXY_CONF = "/etc/apt/apt.conf.d/01pdic-proxy"
APT_TIMEOUT = 600  # seconds: an apt command that hangs fails the host instead of the run
SUDOERS = "/etc/sudoers.d/pdic-ops"
# No HTTP pipelining through the proxy: apt's http method was seen to hang in CLOSE-WAIT when
# many hosts asked apt-cacher-ng for the same uncached file at once.
PROXY_TEXT = (
    "# Managed by pdic bootstrap: packages come through the centre's proxy.\n"
    'Acquire::http::Proxy "{url}";\n'
    'Acquire::http::Timeout "15";\n'
    'Acquire::http::Pipeline-Depth "0";\n'
    'Acquire::Retries "3";\n'
)


@dataclass
class HostResult:
    """What bootstrap did on one host."""

    name: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: bool = False
    changed_ops: list[str] = field(default_factory=list)
    failed_ops: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.unreachable and self.failed == 0


def _as_list(host: Host, key: str) -> list[str]:
    value = host.get(key) or []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise BootstrapError(f"{host.name}: {key}: must be a list of strings, not {value!r}")
    return [str(v) for v in value]


def ops_public_keys(host: Host) -> list[str]:
    """The operations account's public keys: files named by the inventory, and inline keys."""
    keys = [k.strip() for k in _as_list(host, "pdic_ops_authorized_keys") if k.strip()]
    for name in _as_list(host, "pdic_ops_authorized_key_files"):
        path = Path(name).expanduser()
        try:
            keys.extend(line.strip() for line in path.read_text().splitlines() if line.strip())
        except OSError as exc:
            raise BootstrapError(
                f"{host.name}: pdic_ops_authorized_key_files: cannot read {path}: {exc.strerror}"
            ) from exc
    if not keys:
        raise BootstrapError(
            f"{host.name}: pdic_ops_authorized_keys / pdic_ops_authorized_key_files: no public key "
            "for the operations account (it would be unreachable after bootstrap)"
        )
    return keys


PYINFRA_POLICIES = ("yes", "no", "off", "accept-new")


def connection_data(host: Host, user: str | None = None) -> dict[str, Any]:
    """pyinfra connection settings for one host, from its Ansible inventory variables.

    As ``user``, else the bootstrap account (``pdic_bootstrap_user``, root by default); any
    account but root gets sudo.
    """
    found = trust(host)
    data: dict[str, Any] = {
        "ssh_hostname": host.address,
        "ssh_user": user or str(host.get("pdic_bootstrap_user", "root")),
        "ssh_port": int(host.get("ansible_port", 22)),
        # The inventory's policy, as Ansible's ssh applies it; OpenSSH's default ("ask") would
        # prompt: pdic refuses an unknown key instead.
        "ssh_strict_host_key_checking": found.strict if found.strict in PYINFRA_POLICIES else "yes",
        "ssh_paramiko_connect_kwargs": {"banner_timeout": 10, "auth_timeout": 10},
    }
    key = host.get("ansible_ssh_private_key_file")
    if key:
        data["ssh_key"] = str(Path(str(key)).expanduser())
    # The known_hosts file that Ansible is told to use, so both agree on host keys.
    if found.known_hosts is not None:
        data["ssh_known_hosts_file"] = str(found.known_hosts)
    if data["ssh_user"] != "root":
        data["_sudo"] = True
    return data


def pyinfra_config() -> Config:
    """pyinfra's settings for pdic's connections: every host tried (one failing does not stop
    the others), 10 s to connect, and files sent into /tmp before sudo moves them: not into
    the TMPDIR of a sudo session (libpam-tmpdir's /tmp/user/0, root's alone), where the
    operations account cannot write."""
    return Config(FAIL_PERCENT=100, CONNECT_TIMEOUT=10, TEMP_DIR="/tmp")  # type: ignore[no-untyped-call]


def set_nodelay(state: State) -> None:
    """TCP_NODELAY on every active host's SSH socket (see the module docstring), and SSH
    keepalives, so that a host gone silent is noticed."""
    for phost in state.activated_hosts:
        client = getattr(phost.connector, "client", None)
        transport = client.get_transport() if client is not None else None
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_SECONDS)
        sock = getattr(transport, "sock", None)
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _missing_packages(phost: Any) -> list[str]:
    installed = phost.get_fact(DebPackages) or {}
    return [p for p in BOOTSTRAP_PACKAGES if p not in installed]


def _ops(state: State, inv: Inventory, hosts: Mapping[str, Host]) -> list[dict[Any, Any]]:
    """Queue the bootstrap operations; returns the per-host OperationMeta maps."""
    active = [p for p in state.inventory if p in state.active_hosts]
    queued: list[dict[Any, Any]] = []

    def on(phost: Any, func: Callable[..., Any], name: str, **kwargs: Any) -> None:
        queued.append(add_op(state, func, name=name, host=phost, **kwargs))

    for phost in active:
        url = hosts[phost.name].get("pdic_apt_proxy")
        if url:
            text = PROXY_TEXT.format(url=url)
            on(
                phost,
                files.put,
                "apt uses the inventory's proxy",
                src=io.StringIO(text),
                dest=PROXY_CONF,
                mode="644",
            )
        else:
            on(phost, files.file, "apt uses no proxy", path=PROXY_CONF, present=False)
    # Facts in, operations out: refresh the package lists only where a package is missing, so a
    # second bootstrap (hours later too) changes nothing.
    missing = [p for p in active if _missing_packages(p)]
    if missing:
        # Package lists one host at a time (apt-cacher-ng was seen to fail when several hosts
        # refreshed the same index at once, and apt then hung), then installs in parallel.
        queued.append(
            add_op(
                state,
                apt.update,
                name="the package lists are fresh",
                host=missing,
                _serial=True,
                _timeout=APT_TIMEOUT,
            )
        )
        queued.append(
            add_op(
                state,
                apt.packages,
                name="python3 and the packages Ansible needs are installed",
                packages=BOOTSTRAP_PACKAGES,
                no_recommends=True,
                host=missing,
                _timeout=APT_TIMEOUT,
            )
        )
    for phost in active:
        h = hosts[phost.name]
        tz = str(h.get("pdic_timezone", "Asia/Ho_Chi_Minh"))
        user = str(h.get("pdic_ops_user", "pdicops"))
        sudoers = (
            f"# Managed by pdic: the operations account.\n{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
        )
        on(phost, server.hostname, "the hostname is set", hostname=h.name)
        on(
            phost,
            files.put,
            "/etc/hosts lists every host and service name of the inventory",
            src=io.StringIO(render_etc_hosts(inv, h)),
            dest="/etc/hosts",
            mode="644",
        )
        on(
            phost,
            files.link,
            f"the timezone is {tz}",
            path="/etc/localtime",
            target=f"/usr/share/zoneinfo/{tz}",
        )
        on(
            phost,
            files.put,
            "/etc/timezone names the timezone",
            src=io.StringIO(f"{tz}\n"),
            dest="/etc/timezone",
            mode="644",
        )
        on(
            phost,
            server.user,
            f"the operations account {user} exists with its key",
            user=user,
            shell="/bin/bash",
            create_home=True,
            public_keys=ops_public_keys(h),
        )
        # Bootstrap only establishes access; once the file exists, Ansible's common role owns it.
        if not phost.get_fact(File, path=SUDOERS):
            on(
                phost,
                files.put,
                f"{user} may use sudo",
                src=io.StringIO(sudoers),
                dest=SUDOERS,
                mode="440",
                user="root",
                group="root",
            )
    queued.append(
        add_op(
            state,
            server.service,
            name="the time sync daemon is enabled",
            service="chrony",
            enabled=True,
            running=None,
            host=active,
        )
    )
    return queued


def bootstrap(
    inventory: Inventory,
    limit: str | None = None,
    log: Callable[[str], None] = print,
) -> list[HostResult]:
    """Bootstrap the selected hosts; one host failing does not stop the others."""
    inv = inventory
    hosts = {h.name: h for h in inv.select(limit)}
    pinv = PyinfraInventory(([(h.name, connection_data(h)) for h in hosts.values()], {}))  # type: ignore[no-untyped-call]
    state = State(pinv, pyinfra_config())
    with contextlib.suppress(PyinfraError):  # every host unreachable: reported below
        connect_all(state)
    set_nodelay(state)
    reachable = {h.name for h in state.active_hosts}
    results = {name: HostResult(name, unreachable=name not in reachable) for name in hosts}
    if reachable:
        metas = _ops(state, inv, hosts)
        try:
            run_ops(state)
        except PyinfraError as exc:
            log(f"pdic bootstrap: {exc}")
        for meta_by_host in metas:
            for phost, meta in meta_by_host.items():
                res = results[phost.name]
                if not meta.is_complete():
                    continue
                name = ", ".join(sorted(state.get_op_meta(meta._hash).names))
                if meta.did_succeed(_raise_if_not_complete=False):
                    res.ok += 1
                    if meta.did_change():
                        res.changed += 1
                        res.changed_ops.append(name)
                else:
                    res.failed += 1
                    res.failed_ops.append(name)
        for phost in state.failed_hosts:
            if phost.name in reachable and results[phost.name].failed == 0:
                results[phost.name].failed = 1
        disconnect_all(state)
    return list(results.values())
