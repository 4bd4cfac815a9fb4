"""The administrators' second factor on the lab, and the operations account's limits.

labadmin is the lab inventory's administrator (group_vars/all/admins.yml): `pdic lab up` made
their key pair (/var/lib/pdic-lab/ssh/admin_ed25519), `pdic deploy` their TOTP key in the
lab's vault file. From the control machine (this process) paramiko logs in to portal-1 as an
administrator would: with the key alone sshd answers "partial success, keyboard-interactive
next" and opens no session; with the key and a wrong code it refuses; with the key and the
right code (pdic.totp from the vault's key, as `pdic admin totp` prints it) a session opens and
`sudo -n true` works; the same code a second time is refused (pam_oath's replay protection).

The operations account still logs in from the control machine with its key alone (every lab
test's testinfra connection, and once more here with paramiko), and is never offered
keyboard-interactive. From db-1, which is not a control machine, it is refused: a throwaway key
made on db-1 is authorised for it on portal-1 for the test, a rule in pdic's own nftables table
lets db-1 through portal-1's firewall (as test_59_fail2ban does), and sshd refuses the login
(DenyUsers, in the journal) while the same key works from the control machine. The key, the
rule and the temporary files are removed at the end.

Every host: sshd -T -C says the same for an administrator and for the operations account from
a control and a non-control address, and pam_oath's file is root's alone.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import paramiko
import pytest
from conftest import Run, pdic

from pdic.inventory import Inventory, load_inventory
from pdic.lab import LabPaths
from pdic.sshaccess import admin_key
from pdic.totp import STEP, seconds_left, time_step, totp

ADMIN = "labadmin"
OPS = "pdicops"
TARGET = "portal-1"
OTHER = "db-1"  # a lab host, not a control machine
CONTROL = "10.251.0.1"  # the control machine: the lab bridge's address
MFA_METHODS = "publickey,keyboard-interactive"
RULE_COMMENT = "test_52_mfa"
KEY_COMMENT = "pdic-test-52"
HOSTS = list(load_inventory("inventory/lab").hosts)
RSA_TYPES = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}
"""A recorded RSA host key is negotiated with SHA-2 signatures (OpenSSH 9.2 refuses SHA-1)."""


@pytest.fixture(scope="module")
def totp_key(inventory: Inventory, deployed: Run) -> bytes:
    """labadmin's TOTP key, from the vault file the deploy completed."""
    return admin_key(inventory, ADMIN)


@pytest.fixture(scope="module")
def admin_pkey(lab_paths: LabPaths, deployed: Run) -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key_file(str(lab_paths.admin_key))


@pytest.fixture(scope="module")
def ops_pkey(inventory: Inventory, deployed: Run) -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key_file(
        str(inventory.vars["ansible_ssh_private_key_file"])
    )


@contextlib.contextmanager
def transport(address: str, lab_paths: LabPaths) -> Iterator[paramiko.Transport]:
    """An SSH transport to ``address`` whose host key is the one the lab recorded (Ansible and
    testinfra connected before), not yet authenticated."""
    known = paramiko.HostKeys(str(lab_paths.known_hosts))
    recorded = known.lookup(address)
    assert recorded, f"{address} is not in {lab_paths.known_hosts}"
    types = [t for name in recorded for t in RSA_TYPES.get(name, (name,))]
    sock = socket.create_connection((address, 22), timeout=10)
    t = paramiko.Transport(sock)
    try:
        t.get_security_options().key_types = tuple(types)
        t.start_client(timeout=10)
        server = t.get_remote_server_key()
        assert recorded.get(server.get_name()) == server, f"{address}: another host key"
        yield t
    finally:
        t.close()


def answering(code: str) -> Callable[[str, str, list[tuple[str, bool]]], list[str]]:
    """A keyboard-interactive handler that answers ``code`` to every prompt, and records them."""
    prompts: list[str] = []

    def handler(title: str, instructions: str, asked: list[tuple[str, bool]]) -> list[str]:
        prompts.extend(text for text, _ in asked)
        return [code for _ in asked]

    handler.prompts = prompts  # type: ignore[attr-defined]
    return handler


def run(t: paramiko.Transport, command: str) -> tuple[int, str]:
    channel = t.open_session(timeout=10)
    try:
        channel.exec_command(command)
        out = channel.makefile("r").read()
        return channel.recv_exit_status(), out.decode() if isinstance(out, bytes) else out
    finally:
        channel.close()


class Codes:
    """The administrator's codes, each used once: a login waits for a time step no login of
    this test used yet, with at least 5 seconds left in it."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.last_step = -1

    def fresh(self) -> str:
        while seconds_left() < 5 or time_step(time.time()) <= self.last_step:
            time.sleep(0.5)
        now = time.time()
        self.last_step = time_step(now)
        return totp(self.key, now)

    def wrong(self) -> str:
        """A code that is none of those pam_oath accepts now (window 1: a step either side)."""
        now = time.time()
        accepted = {totp(self.key, now + d * STEP) for d in (-1, 0, 1, 2)}
        candidate = int(totp(self.key, now))
        while f"{candidate:06d}" in accepted:
            candidate = (candidate + 1) % 1_000_000
        return f"{candidate:06d}"


@pytest.fixture(scope="module")
def codes(totp_key: bytes) -> Codes:
    return Codes(totp_key)


def test_an_administrator_with_a_key_alone_gets_no_session(
    inventory: Inventory, lab_paths: LabPaths, admin_pkey: paramiko.PKey
) -> None:
    address = inventory.host(TARGET).address
    with transport(address, lab_paths) as t:
        remaining = t.auth_publickey(ADMIN, admin_pkey)
        assert remaining == ["keyboard-interactive"]  # the key was right: partial success
        assert not t.is_authenticated()


def test_a_wrong_code_is_refused(
    inventory: Inventory, lab_paths: LabPaths, admin_pkey: paramiko.PKey, codes: Codes
) -> None:
    address = inventory.host(TARGET).address
    with transport(address, lab_paths) as t:
        t.auth_publickey(ADMIN, admin_pkey)
        handler = answering(codes.wrong())
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_interactive(ADMIN, handler)
        # pam_oath asked for the code, and for nothing else (no password prompt).
        assert handler.prompts == [f"One-time password (OATH) for `{ADMIN}': "]  # type: ignore[attr-defined]
        assert not t.is_authenticated()


def test_key_and_code_open_a_session_with_sudo_and_a_code_works_once(
    inventory: Inventory, lab_paths: LabPaths, admin_pkey: paramiko.PKey, codes: Codes
) -> None:
    address = inventory.host(TARGET).address
    code = codes.fresh()
    with transport(address, lab_paths) as t:
        assert t.auth_publickey(ADMIN, admin_pkey) == ["keyboard-interactive"]
        handler = answering(code)
        assert t.auth_interactive(ADMIN, handler) == []
        assert t.is_authenticated()
        assert handler.prompts == [f"One-time password (OATH) for `{ADMIN}': "]  # type: ignore[attr-defined]
        assert run(t, "id -un") == (0, f"{ADMIN}\n")
        rc, groups = run(t, "id -Gn")
        assert rc == 0 and "pdic-admins" in groups.split(), groups
        assert run(t, "sudo -n true")[0] == 0
        assert run(t, "sudo -n id -u") == (0, "0\n")
    # The same code again, in the same time step or a later one: pam_oath refuses a replay.
    with transport(address, lab_paths) as t:
        t.auth_publickey(ADMIN, admin_pkey)
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_interactive(ADMIN, answering(code))


def test_pdic_admin_totp_prints_the_code_of_the_vaults_key(totp_key: bytes) -> None:
    before = time.time()
    run_ = pdic("admin", "totp", ADMIN)
    after = time.time()
    assert run_.returncode == 0, run_
    assert run_.stdout.strip() in {totp(totp_key, before), totp(totp_key, after)}
    assert "valid for" in run_.stderr


def test_the_operations_account_logs_in_with_its_key_alone_from_the_control_machine(
    inventory: Inventory, lab_paths: LabPaths, ops_pkey: paramiko.PKey
) -> None:
    address = inventory.host(TARGET).address
    with transport(address, lab_paths) as t:
        assert t.auth_publickey(OPS, ops_pkey) == []
        assert t.is_authenticated()
        assert run(t, "sudo -n true")[0] == 0
    # It is never offered keyboard-interactive, nor are accounts that do not exist.
    with transport(address, lab_paths) as t:
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            t.auth_interactive(OPS, answering("000000"))
        assert refused.value.allowed_types == ["publickey"]


def test_the_operations_account_is_refused_from_a_host_that_is_not_a_control_machine(
    inventory: Inventory, lab_paths: LabPaths, connect: Any
) -> None:
    target, other = connect(TARGET), connect(OTHER)
    target_address, other_address = inventory.host(TARGET).address, inventory.host(OTHER).address
    home = target.user(OPS).home
    started = int(time.time())
    workdir = other.check_output("mktemp -d")
    try:
        other.check_output(
            "ssh-keygen -q -t ed25519 -N '' -C %s -f %s", KEY_COMMENT, f"{workdir}/key"
        )
        public = other.check_output("cat %s", f"{workdir}/key.pub")
        private = other.check_output("cat %s", f"{workdir}/key")
        assert public.endswith(KEY_COMMENT)
        target.check_output("printf '%%s\\n' %s >> %s", public, f"{home}/.ssh/authorized_keys")
        target.check_output(
            "nft insert rule inet pdic_filter input ip saddr %s tcp dport 22 accept comment %s",
            other_address,
            f'"{RULE_COMMENT}"',
        )
        # The key works from the control machine: what sshd refuses below is the address.
        throwaway = paramiko.Ed25519Key.from_private_key(io.StringIO(private + "\n"))
        with transport(target_address, lab_paths) as t:
            assert t.auth_publickey(OPS, throwaway) == []
        attempt = other.run(
            "ssh -F /dev/null -n -o BatchMode=yes -o StrictHostKeyChecking=no"
            " -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null"
            " -o ConnectTimeout=5 -o IdentitiesOnly=yes -i %s %s true",
            f"{workdir}/key",
            f"{OPS}@{target_address}",
        )
        assert attempt.rc == 255, (attempt.stdout, attempt.stderr)
        assert "Permission denied" in attempt.stderr, attempt.stderr
        journal = target.check_output("journalctl -u ssh --no-pager --since @%s", str(started))
        assert f"User {OPS} from {other_address} not allowed because listed in DenyUsers" in journal
    finally:
        target.run("sed -i %s %s", f"/ {KEY_COMMENT}$/d", f"{home}/.ssh/authorized_keys")
        # The firewall role's load: pdic's table without the test's rule, fail2ban's untouched.
        target.check_output("nft -f /etc/nftables.conf")
        other.run("rm -rf -- %s", workdir)
    assert KEY_COMMENT not in target.check_output("cat %s", f"{home}/.ssh/authorized_keys")
    assert RULE_COMMENT not in target.check_output("nft list table inet pdic_filter")


def _sshd_for(host: Any, user: str, address: str) -> dict[str, list[str]]:
    out = host.check_output("/usr/sbin/sshd -T -C %s", f"user={user},host={address},addr={address}")
    values: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("name", HOSTS)
def test_every_host_asks_administrators_two_factors_and_holds_the_operations_account(
    connect: Any, inventory: Inventory, name: str
) -> None:
    host = connect(name)
    admin = _sshd_for(host, ADMIN, "192.0.2.1")
    assert admin["authenticationmethods"] == [MFA_METHODS]
    assert admin["kbdinteractiveauthentication"] == ["yes"]
    assert admin["passwordauthentication"] == ["no"]
    inside = _sshd_for(host, OPS, CONTROL)
    assert inside["authenticationmethods"] == ["publickey"]
    assert "denyusers" not in inside
    outside = _sshd_for(host, OPS, inventory.host(OTHER).address)
    assert outside.get("denyusers") == ["*"]
    users_file = host.file("/etc/users.oath")
    assert (users_file.user, users_file.group, users_file.mode) == ("root", "root", 0o600)
    assert host.check_output("awk %s /etc/users.oath", "!/^#/ && NF {print $1, $2}") == (
        f"HOTP/T30/6 {ADMIN}"
    )
    assert "pam_oath.so" in host.check_output("grep -E %s /etc/pam.d/sshd", "^auth")
    assert ADMIN in host.check_output("getent group pdic-admins").split(":")[-1].split(",")
    assert host.run("visudo -cf /etc/sudoers.d/pdic-admins").rc == 0
