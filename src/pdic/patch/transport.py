"""The steps of `pdic patch` on real hosts: SSH through :func:`pdic.connect.testinfra_host`
(the operations account, sudo, keepalives, a deadline on every command) for what runs on a
host, sockets from the controller for the network checks.

It decides nothing: the order, the stops and the report are :mod:`pdic.patch.wave`'s.
"""

from __future__ import annotations

import base64
import http.client
import json
import shlex
import socket
import ssl
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from pdic.app.names import RELEASE_TOOL
from pdic.app.nginx import NGINX_SITES, candidate_path, replace_command
from pdic.app.upgrade import mark_down
from pdic.connect import longer_commands, testinfra_host
from pdic.db.common import run, sql
from pdic.db.status import NODE_SQL, REPLICA_SQL, parse_replica
from pdic.inventory import Inventory
from pdic.patch.apt import (
    APT_INSTALL,
    APT_SIMULATE,
    APT_UPDATE,
    DELETED_MAPS,
    NEEDRESTART,
    REBOOT_REQUIRED,
    Update,
    parse_deleted,
    parse_needrestart,
    parse_pending,
)
from pdic.patch.plan import MAX_REPLICA_LAG_BYTES, Check, root_ca

INSTALL_SECONDS = 1800
"""An install may take this long (a kernel, initramfs): longer than other commands."""
NETWORK_TIMEOUT = 10.0
FAILED_UNITS = "systemctl list-units --state=failed --plain --no-legend --no-pager"
# The boot's identity: the kernel's boot id and PID 1's start time (a container that
# reboots keeps its kernel's boot id but gets a new PID 1).
BOOT_MARK = "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat"
REBOOT = "systemd-run --on-active=2 --timer-property=AccuracySec=100ms systemctl reboot"


class PatchStepError(Exception):
    """A step on a host failed: one line."""


class SshTransport:
    """:class:`pdic.patch.wave.Transport` over SSH, for the hosts of ``inventory``."""

    def __init__(
        self,
        inventory: Inventory,
        connect: Callable[..., Any] = testinfra_host,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inventory = inventory
        self.connect = connect
        self.clock = clock
        self.sleep = sleep
        self.targets: dict[str, Any] = {}
        self.failed_before: dict[str, set[str]] = {}
        self.boot: dict[str, str] = {}
        self._ca: ssl.SSLContext | None = None

    def target(self, host: str) -> Any:
        if host not in self.targets:
            self.targets[host] = self.connect(self.inventory.hosts[host])
        return self.targets[host]

    def run(self, host: str, command: str, what: str) -> str:
        return run(self.target(host), command, what=f"{host}: {what}")

    # -- the steps -----------------------------------------------------------------------------

    def pending(self, host: str) -> list[Update]:
        self.run(host, APT_UPDATE, "apt-get update")
        updates = parse_pending(self.run(host, APT_SIMULATE, "apt-get -s dist-upgrade"))
        self.failed_before[host] = self.failed_units(host)
        return updates

    def failed_units(self, host: str) -> set[str]:
        out = self.run(host, FAILED_UNITS, "systemctl list-units --state=failed")
        return {line.split()[0] for line in out.splitlines() if line.strip()}

    def set_down(self, app: str, upstream: str, proxy: str, down: Collection[str]) -> None:
        conf = self.run(proxy, f"cat {NGINX_SITES}", f"reading {NGINX_SITES}") + "\n"
        wanted = mark_down(conf, upstream, set(down))
        if wanted == conf:
            return
        candidate = candidate_path(app)
        data = base64.b64encode(wanted.encode()).decode()
        self.run(
            proxy,
            f"echo {data} | base64 -d > {candidate} && {replace_command(candidate)}",
            "nginx -t and reload",
        )

    def install(self, host: str) -> None:
        with longer_commands(self.target(host), INSTALL_SECONDS):
            self.run(host, APT_INSTALL, "apt-get dist-upgrade")

    def reboot_required(self, host: str) -> bool:
        return bool(self.target(host).file(REBOOT_REQUIRED).exists)

    def stale_units(self, host: str) -> list[str]:
        target = self.target(host)
        if target.exists("needrestart"):
            return parse_needrestart(self.run(host, NEEDRESTART, "needrestart"))
        return list(parse_deleted(self.run(host, DELETED_MAPS, "reading /proc/*/maps")))

    def restart(self, host: str, units: Sequence[str]) -> None:
        quoted = " ".join(shlex.quote(u) for u in units)
        self.run(host, f"systemctl restart {quoted}", f"systemctl restart {' '.join(units)}")

    def reboot(self, host: str) -> None:
        self.boot[host] = self.run(host, BOOT_MARK, "reading the boot id")
        self.run(host, REBOOT, "systemctl reboot")
        self.targets.pop(host, None)

    def wait_back(self, host: str, timeout: float) -> None:
        deadline = self.clock() + timeout
        why = "no answer"
        while self.clock() < deadline:
            self.sleep(2.0)
            self.targets.pop(host, None)
            try:
                mark = self.run(host, BOOT_MARK, "reading the boot id")
            except Exception as exc:  # ConnectionFailed while it boots
                why = " ".join(str(exc).split()) or type(exc).__name__
                continue
            if mark != self.boot.get(host):
                return
            why = "still up in the boot before the reboot"
        raise PatchStepError(f"{host}: not back over SSH within {timeout:g} s ({why})")

    # -- health ----------------------------------------------------------------------------

    def check(self, host: str, check: Check) -> str:
        kind = check.kind
        if kind == "units":
            new = sorted(self.failed_units(host) - self.failed_before.get(host, set()))
            if new:
                raise PatchStepError(f"failed since the patch: {', '.join(new)}")
            return "no unit failed"
        if kind == "healthz":
            out = self.run(
                host, f"{RELEASE_TOOL} health {check.port} --timeout 5", "pdic-app-release health"
            )
            try:
                status = int(json.loads(out).get("status", 0))
            except (ValueError, AttributeError):
                status = 0
            if status != 200:
                raise PatchStepError(f"/healthz: {' '.join(out.split())[:200]}")
            return "/healthz 200"
        if kind == "replica":
            target = self.target(host)
            if sql(target, NODE_SQL, what=f"{host}: psql")[0][0] != "t":
                raise PatchStepError("not in recovery: not a replica")
            lag, seconds, receiver = parse_replica(
                sql(target, REPLICA_SQL, what=f"{host}: replica lag")[0]
            )
            if receiver != "streaming" or lag > MAX_REPLICA_LAG_BYTES:
                raise PatchStepError(f"receiver {receiver or 'down'}, lag {lag} bytes")
            return f"streaming, lag {lag} bytes, {seconds:.1f} s"
        if kind == "primary":
            if sql(self.target(host), NODE_SQL, what=f"{host}: psql")[0][0] != "f":
                raise PatchStepError("in recovery: not a primary")
            return "accepts writes"
        if kind == "pgbackrest":
            self.run(
                host,
                f"runuser -u postgres -- pgbackrest --stanza={shlex.quote(check.stanza)} check",
                "pgbackrest check",
            )
            return f"stanza {check.stanza} OK"
        if kind == "tcp":
            with socket.create_connection((check.address, check.port), NETWORK_TIMEOUT):
                return f"{check.address}:{check.port} answers"
        if kind == "https":
            return self.https(check)
        if kind == "http":
            connection = http.client.HTTPConnection(check.address, check.port, NETWORK_TIMEOUT)
            return self.get(connection, check)
        raise PatchStepError(f"unknown check kind {kind!r}")

    def ca(self) -> ssl.SSLContext:
        """A context that trusts the centre's root only (read once from the CA host)."""
        if self._ca is None:
            where = root_ca(self.inventory)
            if where is None:
                raise PatchStepError("no CA in the inventory (pki group, pki_ca_root)")
            ca_host, path = where
            pem = self.run(ca_host, f"cat -- {shlex.quote(path)}", f"reading {path}")
            self._ca = ssl.create_default_context(cadata=pem)
        return self._ca

    def https(self, check: Check) -> str:
        connection = _SniHTTPSConnection(
            check.address, check.port, check.server_name, self.ca(), NETWORK_TIMEOUT
        )
        return self.get(connection, check)

    @staticmethod
    def get(connection: http.client.HTTPConnection, check: Check) -> str:
        try:
            host = check.server_name or check.address
            connection.request("GET", check.path, headers={"Host": host})
            status = connection.getresponse().status
        finally:
            connection.close()
        if not 200 <= status < 400:
            raise PatchStepError(f"{check.path} answered {status}")
        return f"{check.path} answered {status}"

    def close(self) -> None:
        self.targets.clear()


class _SniHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address with another name for SNI and for the certificate's check."""

    def __init__(
        self, address: str, port: int, name: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self.server_name = name
        self.tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.server_name)
