"""Connections to inventory hosts for checks: testinfra hosts as the operations account.

One place says how pdic reaches a host after bootstrap (the audit runner, ``pdic cert`` and the
lab tests use it): paramiko over SSH as ``ansible_user`` (else ``pdic_ops_user``) with the
inventory's key, commands through sudo. It deliberately installs nothing on the hosts.

Host keys are checked against the known-hosts file that the inventory gives Ansible
(``UserKnownHostsFile`` in ``ansible_ssh_common_args``), with the same
``StrictHostKeyChecking`` policy: ``accept-new`` (or ``no``) records a first-seen key there,
anything else refuses an unknown host. Without such a file, testinfra's own behaviour stays
(a warning for an unknown key).

A host that cannot be reached, refuses the login or drops the connection raises
:class:`~pdic.errors.HostUnreachable` naming the inventory host (``db-1: cannot run commands
over SSH as pdicops@10.251.0.31: timed out``), never paramiko's or the socket's own exception:
callers that go on with the other hosts catch it, the CLI prints it as one line.
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Any

import paramiko
from testinfra.backend.base import CommandResult
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host as TestinfraHost

from pdic.errors import HostUnreachable
from pdic.inventory import Host

CONNECTION_ERRORS = (paramiko.SSHException, OSError, EOFError)
"""What paramiko and the socket raise when a host is down, refuses us or drops the line
(socket timeouts, refused or unroutable connections, failed logins, closed channels)."""


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


class _Backend(ParamikoBackend):  # type: ignore[misc]
    """testinfra's paramiko backend whose connection failures name the inventory host."""

    def __init__(self, hostspec: str, *, label: str, **kwargs: Any) -> None:
        super().__init__(hostspec, **kwargs)
        self.label = label

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        try:
            return super().run(command, *args, **kwargs)
        except CONNECTION_ERRORS as exc:
            where = f"{self.host.user}@{self.host.name}" if self.host.user else self.host.name
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise HostUnreachable(
                f"{self.label}: cannot run commands over SSH as {where}: {why}"
            ) from exc


class _KnownHostsBackend(_Backend):
    """The backend with host keys checked against a known-hosts file."""

    def __init__(self, hostspec: str, known_hosts: Path, accept_new: bool, **kwargs: Any) -> None:
        super().__init__(hostspec, **kwargs)
        self.known_hosts = known_hosts
        self.accept_new = accept_new

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            # Also makes paramiko save keys it accepts to this file.
            client.load_host_keys(str(self.known_hosts))
        elif self.accept_new:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            self.known_hosts.touch(mode=0o600)
            client.load_host_keys(str(self.known_hosts))
        policy = paramiko.AutoAddPolicy() if self.accept_new else paramiko.RejectPolicy()
        client.set_missing_host_key_policy(policy)
        client.connect(
            hostname=self.host.name,
            port=int(self.host.port) if self.host.port else 22,
            username=self.host.user,
            key_filename=self.ssh_identity_file,
            timeout=self.timeout,
        )
        return client


def testinfra_host(host: Host, *, sudo: bool = True, timeout: int = 10) -> Any:
    """A pytest-testinfra host for ``host`` (no connection is made until the first command)."""
    user = host.get("ansible_user") or host.get("pdic_ops_user") or "root"
    kwargs: dict[str, Any] = {"sudo": sudo, "timeout": timeout, "label": host.name}
    key = host.get("ansible_ssh_private_key_file")
    if key:
        kwargs["ssh_identity_file"] = str(Path(str(key)).expanduser())
    port = host.get("ansible_port")
    netloc = f"{user}@{host.address}" + (f":{port}" if port else "")
    options = ssh_options(host.get("ansible_ssh_common_args"))
    known = options.get("userknownhostsfile")
    backend: _Backend
    if not known or known == "/dev/null":
        backend = _Backend(netloc, **kwargs)
    else:
        strict = options.get("stricthostkeychecking", "ask").lower()
        backend = _KnownHostsBackend(
            netloc,
            known_hosts=Path(known).expanduser(),
            accept_new=strict in ("accept-new", "no", "off"),
            **kwargs,
        )
    target = TestinfraHost(backend)
    backend.set_host(target)
    return target
