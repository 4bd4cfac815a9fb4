"""Connections to inventory hosts for checks: testinfra hosts as the operations account.

One place says how pdic reaches a host after bootstrap (the audit runner, ``pdic cert`` and the
lab tests use it): paramiko over SSH as ``ansible_user`` (else ``pdic_ops_user``) with the
inventory's key, commands through sudo. It deliberately installs nothing on the hosts.

Host keys are checked against the known-hosts file that the inventory gives Ansible
(``UserKnownHostsFile`` in ``ansible_ssh_common_args``), with the same
``StrictHostKeyChecking`` policy: ``accept-new`` (or ``no``) records a first-seen key there,
anything else refuses an unknown host. Without such a file the user's ``~/.ssh/known_hosts``
is read and an unknown key is refused with one line that tells how to record it. Only
``UserKnownHostsFile=/dev/null`` with ``StrictHostKeyChecking=no``, said in the inventory,
checks no key.

No command waits for ever: SSH keepalives every few seconds, and a deadline on each command
(``PDIC_COMMAND_TIMEOUT``); a host that stops answering (its network gone, its processes
frozen) is named in one line and sent nothing more. A host that cannot be reached, refuses
us or drops the connection raises :class:`ConnectionFailed` (a
:class:`~pdic.errors.HostUnreachable`) naming the inventory host, never paramiko's or the
socket's own exception: callers that go on with the other hosts catch it, the CLI prints it as
one line (exit code 1).
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from testinfra.backend.base import CommandResult
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host as TestinfraHost

from pdic.errors import HostUnreachable, PdicError
from pdic.inventory import Host

CONNECTION_ERRORS = (paramiko.SSHException, OSError, EOFError)
"""What paramiko and the socket raise when a host is down, refuses us or drops the line."""


def ssh_options(common_args: str | None) -> dict[str, str]:
    """``-o Key=Value`` options of an ``ansible_ssh_common_args`` string, keys lowercased."""
    options: dict[str, str] = {}
    words = shlex.split(common_args or "")
    for i, word in enumerate(words):
        if word == "-o" and i + 1 < len(words):
            option = words[i + 1]
        elif word.startswith("-o") and len(word) > 2:
            option = word[2:]
        else:
            continue
        key, sep, value = option.partition("=")
        if not sep:
            key, _, value = option.partition(" ")
        options[key.strip().lower()] = value.strip()
    return options


class ConnectionFailed(HostUnreachable):
    """A host could not be reached, refused its key, or stopped answering: one line."""


DEFAULT_COMMAND_TIMEOUT = 300.0
"""Seconds a command may run on a host before pdic gives up on it (PDIC_COMMAND_TIMEOUT)."""
KEEPALIVE_SECONDS = 5
ACCEPTING = ("accept-new", "no", "off")


def command_timeout() -> float:
    """The per-command timeout: PDIC_COMMAND_TIMEOUT seconds, else the default."""
    raw = os.environ.get("PDIC_COMMAND_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_COMMAND_TIMEOUT
    except ValueError:
        raise PdicError(f"PDIC_COMMAND_TIMEOUT={raw!r}: not a number of seconds") from None
    if not 0 < value < 86400 * 7:
        raise PdicError(f"PDIC_COMMAND_TIMEOUT={raw!r}: must be more than 0 seconds")
    return value


@dataclass(frozen=True)
class Trust:
    """How a host's SSH key is checked, from the inventory's ``ansible_ssh_common_args``:
    the known-hosts file (None: the user's ~/.ssh/known_hosts) and the
    StrictHostKeyChecking policy (OpenSSH's default ``ask`` refuses an unknown key here)."""

    known_hosts: Path | None
    strict: str

    @property
    def accepts_new(self) -> bool:
        return self.strict in ACCEPTING

    @property
    def ignores_keys(self) -> bool:
        """``UserKnownHostsFile=/dev/null`` with ``StrictHostKeyChecking=no``: no key is kept
        or checked (said explicitly in the inventory, never assumed)."""
        return self.known_hosts == Path("/dev/null") and self.strict in ("no", "off")


def trust(host: Host) -> Trust:
    options = ssh_options(host.get("ansible_ssh_common_args"))
    known = options.get("userknownhostsfile")
    strict = options.get("stricthostkeychecking", "ask").lower()
    return Trust(Path(known).expanduser() if known else None, strict)


def unknown_key_hint(host: Host, known: Path | None) -> str:
    where = known or Path("~/.ssh/known_hosts")
    return (
        f"{host.name}: the SSH host key of {host.address} is not known: check its fingerprint "
        f"(on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then record it "
        f"(ssh-keyscan -t ed25519 {host.address} >> {where}), or give UserKnownHostsFile and "
        "StrictHostKeyChecking=accept-new in ansible_ssh_common_args"
    )


class _PdicBackend(ParamikoBackend):  # type: ignore[misc]
    """testinfra's paramiko backend with the inventory's host-key policy, SSH keepalives, and
    a deadline on every command: a host that stops answering is named, never waited for."""

    def __init__(self, hostspec: str, inventory_host: Host, deadline: float, **kwargs: Any) -> None:
        super().__init__(hostspec, **kwargs)
        self.inventory_host = inventory_host
        self.trust = trust(inventory_host)
        self.command_timeout = deadline
        self.dead: str | None = None

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        known = self.trust.known_hosts
        if self.trust.ignores_keys:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            if known is None:
                client.load_system_host_keys()
            elif known.is_file():
                client.load_host_keys(str(known))  # also where accepted keys are saved
            elif self.trust.accepts_new:
                known.parent.mkdir(parents=True, exist_ok=True)
                known.touch(mode=0o600)
                client.load_host_keys(str(known))
            accept = self.trust.accepts_new
            client.set_missing_host_key_policy(
                paramiko.AutoAddPolicy() if accept else paramiko.RejectPolicy()
            )
        name = self.inventory_host.name
        try:
            client.connect(
                hostname=self.host.name,
                port=int(self.host.port) if self.host.port else 22,
                username=self.host.user,
                key_filename=self.ssh_identity_file,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                look_for_keys=self.ssh_identity_file is None,
            )
        except paramiko.BadHostKeyException:
            raise ConnectionFailed(
                f"{name}: the SSH host key of {self.host.name} is not the one recorded in "
                f"{known or '~/.ssh/known_hosts'}: refusing to connect (a new installation, or "
                "someone in between: check before removing the old key)"
            ) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise ConnectionFailed(unknown_key_hint(self.inventory_host, known)) from None
            raise ConnectionFailed(f"{name}: SSH to {self.host.name} failed: {exc}") from None
        except (OSError, EOFError) as exc:
            raise ConnectionFailed(f"{name}: cannot connect to {self.host.name}: {exc}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_SECONDS)
        return client

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        try:
            return super().run(command, *args, **kwargs)
        except ConnectionFailed:
            raise
        except CONNECTION_ERRORS as exc:
            where = f"{self.host.user}@{self.host.name}" if self.host.user else self.host.name
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise ConnectionFailed(
                f"{self.inventory_host.name}: cannot run commands over SSH as {where}: {why}"
            ) from exc

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        name = self.inventory_host.name
        if self.dead:
            raise ConnectionFailed(self.dead)
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionFailed(f"{name}: the SSH connection to {self.host.name} is closed")
        try:
            chan = transport.open_session(timeout=self.command_timeout)
        except paramiko.SSHException:  # the host stopped answering on a live connection
            raise self._gone(command) from None
        try:
            if self.get_pty:
                chan.get_pty()
            chan.exec_command(command)
            return self._collect(chan, command)
        finally:
            chan.close()

    def _gone(self, command: bytes) -> ConnectionFailed:
        """The host gave no answer within the deadline: it is asked nothing more."""
        shown = command.decode("utf-8", "replace")
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        self.dead = (
            f"{self.inventory_host.name}: no answer within {self.command_timeout:g} s "
            f"(to `{shown}`); its later commands are not sent"
        )
        return ConnectionFailed(self.dead)

    def _collect(self, chan: paramiko.Channel, command: bytes) -> tuple[int, bytes, bytes]:
        deadline = time.monotonic() + self.command_timeout
        out: list[bytes] = []
        err: list[bytes] = []
        while True:
            if chan.recv_ready():
                out.append(chan.recv(65536))
            elif chan.recv_stderr_ready():
                err.append(chan.recv_stderr(65536))
            elif chan.exit_status_ready():
                # The output sent just before the exit status may have arrived after the two
                # checks above: it is in the channel's buffers by now (paramiko handles the
                # packets in order), and read before the result is returned.
                while chan.recv_ready():
                    out.append(chan.recv(65536))
                while chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(65536))
                return chan.recv_exit_status(), b"".join(out), b"".join(err)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._gone(command)
                select.select([chan], [], [], min(left, 1.0))


def testinfra_host(
    host: Host, *, sudo: bool = True, timeout: int = 10, deadline: float | None = None
) -> Any:
    """A pytest-testinfra host for ``host`` (no connection is made until the first command).

    ``timeout`` bounds the connection, ``deadline`` every command (default: PDIC_COMMAND_TIMEOUT
    or DEFAULT_COMMAND_TIMEOUT seconds); any failure is a one-line :class:`ConnectionFailed`.
    """
    user = host.get("ansible_user") or host.get("pdic_ops_user") or "root"
    kwargs: dict[str, Any] = {"sudo": sudo, "timeout": timeout}
    key = host.get("ansible_ssh_private_key_file")
    if key:
        kwargs["ssh_identity_file"] = str(Path(str(key)).expanduser())
    port = host.get("ansible_port")
    netloc = f"{user}@{host.address}" + (f":{port}" if port else "")
    backend = _PdicBackend(
        netloc, host, deadline if deadline is not None else command_timeout(), **kwargs
    )
    target = TestinfraHost(backend)
    backend.set_host(target)
    return target


@contextlib.contextmanager
def longer_commands(target: Any, seconds: float) -> Iterator[None]:
    """Within the block, commands on ``target`` may take up to ``seconds`` (a Lynis run)."""
    backend = getattr(target, "backend", None)
    before = getattr(backend, "command_timeout", None)
    if backend is None or before is None:
        yield
        return
    backend.command_timeout = max(before, seconds)
    try:
        yield
    finally:
        backend.command_timeout = before
