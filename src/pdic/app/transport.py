"""The steps of `pdic app upgrade` and `pdic app rollback` on real hosts, with pyinfra.

pyinfra's Python API (one process, gevent; the connections bootstrap makes, with TCP_NODELAY)
reaches the hosts of the application's group as the operations account (``ansible_user``,
else ``pdic_ops_user``) with sudo, and runs on them what role app_service installed:
``pdic-app-release`` (status, install, switch, rollback, health) and, for nginx,
``pdic-nginx-check`` before a reload. An artifact on the controller is checked against the
inventory's sha256 before it is sent; one at a URL is fetched by the host (and checked there).

It decides nothing: the order, the stops and the report are :mod:`pdic.app.upgrade`'s.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
from collections.abc import Callable, Collection, Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from pyinfra.api.command import StringCommand  # noqa: E402
from pyinfra.api.connect import connect_all, disconnect_all  # noqa: E402
from pyinfra.api.exceptions import PyinfraError  # noqa: E402
from pyinfra.api.inventory import Inventory as PyinfraInventory  # noqa: E402
from pyinfra.api.state import State  # noqa: E402

from pdic.app.model import AppError, Application, Artifact, app_hosts, application  # noqa: E402
from pdic.app.names import RELEASE_TOOL, ROOT  # noqa: E402
from pdic.app.nginx import NGINX_SITES, candidate_path, replace_command  # noqa: E402
from pdic.app.upgrade import (  # noqa: E402
    Health,
    Release,
    Report,
    batches,
    check_timeout,
    mark_down,
    rollback,
    upgrade,
)
from pdic.bootstrap import connection_data, pyinfra_config, set_nodelay  # noqa: E402
from pdic.connect import command_timeout  # noqa: E402
from pdic.inventory import Host, Inventory  # noqa: E402


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class PyinfraTransport:
    """:class:`pdic.app.upgrade.Transport` for one application, over pyinfra's SSH connector."""

    def __init__(self, app: Application, hosts: Sequence[Host], project: Path) -> None:
        self.app = app
        self.project = project
        pinv = PyinfraInventory(  # type: ignore[no-untyped-call]
            ([(h.name, self._data(h)) for h in hosts], {})
        )
        self.state = State(pinv, pyinfra_config())
        with contextlib.suppress(PyinfraError):  # every host unreachable: reported below
            connect_all(self.state)
        set_nodelay(self.state)
        reachable = {h.name for h in self.state.active_hosts}
        missing = [h.name for h in hosts if h.name not in reachable]
        if missing:
            self.close()
            raise AppError(f"{', '.join(missing)}: unreachable over SSH; nothing was changed")
        self.sudo = {h.name: self._data(h)["ssh_user"] != "root" for h in hosts}
        self.deadline = command_timeout()

    @staticmethod
    def _data(host: Host) -> dict[str, Any]:
        user = host.get("ansible_user") or host.get("pdic_ops_user")
        return connection_data(host, str(user) if user else None)

    def close(self) -> None:
        disconnect_all(self.state)

    def run(self, host: str, command: str, what: str) -> str:
        """stdout of ``command`` on ``host`` (as root); AppError naming ``what`` if it fails."""
        phost = self.state.inventory.get_host(host)
        with self._bounded(host, what):
            ok, output = phost.run_shell_command(
                StringCommand(command), _sudo=self.sudo[host], _timeout=self.deadline
            )
        if not ok:
            lines = (output.stderr or output.stdout).strip().splitlines()
            raise AppError(f"{what}: {lines[-1] if lines else 'failed'}")
        return str(output.stdout)

    @contextlib.contextmanager
    def _bounded(self, host: str, what: str) -> Iterator[None]:
        """Every step on a host ends within the per-command deadline (PDIC_COMMAND_TIMEOUT): a
        host that stops answering mid-way (a command, a file transfer) is named, not waited for."""
        late = AppError(f"{what}: {host}: no answer within {self.deadline:g} s")
        try:
            with gevent.Timeout(self.deadline, late):
                yield
        except (TimeoutError, OSError) as exc:
            raise AppError(f"{what}: {host}: {type(exc).__name__}: {exc}".rstrip(": ")) from None

    def put(self, host: str, source: Any, path: str, what: str) -> None:
        phost = self.state.inventory.get_host(host)
        with self._bounded(host, what):
            if not phost.put_file(source, path, _sudo=self.sudo[host]):
                raise AppError(f"could not {what}")

    def tool(self, host: str, *args: str) -> dict[str, Any]:
        command = " ".join(shlex.quote(a) for a in (RELEASE_TOOL, *args))
        out = self.run(host, command, f"pdic-app-release {args[0]}")
        try:
            return dict(json.loads(out))
        except ValueError:
            raise AppError(f"pdic-app-release {args[0]}: not JSON: {out[:200]!r}") from None

    # -- the steps -----------------------------------------------------------------------------

    def release(self, host: str) -> Release:
        status = self.tool(host, "status", self.app.name)
        return Release(status.get("current"), status.get("previous"))

    def set_down(self, proxy: str, down: Collection[str]) -> None:
        conf = self.run(proxy, f"cat {NGINX_SITES}", f"reading {NGINX_SITES}") + "\n"
        wanted = mark_down(conf, self.app.upstream, set(down))
        if wanted == conf:
            return
        candidate = candidate_path(self.app.name)
        self.put(proxy, io.StringIO(wanted), candidate, f"write {candidate}")
        # Checked with nginx -t inside a copy of the whole configuration (the nginx role's
        # check) before it replaces the live file; nginx is reloaded, never restarted.
        self.run(proxy, replace_command(candidate), f"{proxy}: nginx -t and reload")

    def install(self, host: str, artifact: Artifact) -> None:
        source = artifact.source
        if not artifact.is_url:
            local = Path(source) if Path(source).is_absolute() else self.project / source
            if not local.is_file():
                raise AppError(
                    f"{local}: no such artifact (`pdic app build` makes the reference's)"
                )
            actual = sha256_file(local)
            if actual != artifact.sha256:
                raise AppError(
                    f"{local}: sha256 {actual}, the inventory says {artifact.sha256}: not sent"
                )
            source = f"{ROOT}/{self.app.name}/archives/{self.app.name}-{artifact.version}.tar.gz"
            self.put(host, str(local), source, f"send {local} to {source}")
        self.tool(host, "install", self.app.name, artifact.version, source, artifact.sha256)

    def switch(self, host: str, version: str) -> None:
        self.tool(host, "switch", self.app.name, version)

    def rollback(self, host: str) -> str:
        return str(self.tool(host, "rollback", self.app.name)["current"])

    def health(self, host: str) -> Health:
        answer = self.tool(host, "health", str(self.app.port), "--timeout", "5")
        return Health(int(answer.get("status", 0)), str(answer.get("body", "")))


def run_on_hosts(
    inventory: Inventory,
    name: str,
    version: str | None,
    *,
    serial: int = 1,
    timeout: float = 60,
    project: Path,
    say: Callable[[str], None] = lambda _: None,
) -> tuple[Application, Report]:
    """Upgrade ``name`` to ``version`` (rollback when None) on the hosts of its group.

    Bad input (an unknown application or version, a serial below 1, a timeout of 0) raises
    AppError before any host is reached; an unreachable host too, before anything changes.
    """
    app = application(inventory, name)
    if version is not None:
        app.artifact(version)
    hosts = app_hosts(inventory, app)
    batches([h.name for h in hosts], serial)
    check_timeout(timeout)
    transport = PyinfraTransport(app, hosts, project)
    addresses = {h.name: h.address for h in hosts}
    try:
        if version is None:
            return app, rollback(app, addresses, transport, serial=serial, timeout=timeout, say=say)
        report = upgrade(
            app, version, addresses, transport, serial=serial, timeout=timeout, say=say
        )
        return app, report
    finally:
        transport.close()
