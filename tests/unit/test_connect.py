"""pdic.connect: the inventory's ssh options choose host-key checking, and no command waits for
ever. An SSH server inside the test process (paramiko's server side, on loopback) plays the
host: it answers, or leaves a command unanswered as a frozen host does."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from pdic import connect
from pdic.connect import ConnectionFailed, _PdicBackend, ssh_options, trust
from pdic.errors import PdicError
from pdic.inventory import Host, load_inventory

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (None, {}),
        ("-o StrictHostKeyChecking=accept-new", {"stricthostkeychecking": "accept-new"}),
        (
            "-o StrictHostKeyChecking=no -oUserKnownHostsFile=/tmp/kh -C",
            {"stricthostkeychecking": "no", "userknownhostsfile": "/tmp/kh"},
        ),
        ("-o 'UserKnownHostsFile /x y'", {"userknownhostsfile": "/x y"}),
    ],
)
def test_ssh_options(args: str | None, expected: dict[str, str]) -> None:
    assert ssh_options(args) == expected


def test_lab_hosts_check_keys_against_the_lab_known_hosts() -> None:
    host = connect.testinfra_host(load_inventory(REPO / "inventory" / "lab").host("db-1"))
    backend = host.backend
    assert isinstance(backend, _PdicBackend)
    assert backend.trust.known_hosts == Path("/var/lib/pdic-lab/ssh/known_hosts")
    assert backend.trust.accepts_new
    assert (backend.host.user, backend.host.name) == ("pdicops", "10.251.0.31")


def test_the_reference_province_refuses_unknown_keys() -> None:
    host = load_inventory(REPO / "inventory" / "thaibinh").host("portal-1")
    found = trust(host)
    assert found.strict == "yes" and not found.accepts_new and not found.ignores_keys
    assert found.known_hosts == Path("~/.ssh/known_hosts.pdic-thaibinh").expanduser()


def test_without_options_the_users_known_hosts_decide_and_unknown_is_refused() -> None:
    found = trust(Host("x", "192.0.2.9", ("portal",), {"ansible_user": "ops"}))
    assert found.known_hosts is None and found.strict == "ask" and not found.accepts_new


# -- an SSH server in the test process --------------------------------------------------------


class _Server(paramiko.ServerInterface):
    def __init__(self, channels: list[tuple[paramiko.Channel, bytes]]) -> None:
        self.channels = channels

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return (
            paramiko.OPEN_SUCCEEDED
            if kind == "session"
            else paramiko.OPEN_FAILED_UNKNOWN_CHANNEL_TYPE
        )

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.channels.append((channel, command))
        if b"hang" not in command:  # answer at once; a "hang" command gets nothing, ever
            channel.sendall(b"hello\n")
            channel.sendall_stderr(b"note\n")
            channel.send_exit_status(3)
        return True


@pytest.fixture(scope="module")
def server_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.fixture
def server(server_key: paramiko.PKey) -> Iterator[tuple[int, list[Any]]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    channels: list[tuple[paramiko.Channel, bytes]] = []
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(sock)
            transport.add_server_key(server_key)
            transport.start_server(server=_Server(channels))
            transports.append(transport)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], channels
    listener.close()
    for transport in transports:
        transport.close()


def _host(tmp_path: Path, port: int, common_args: str) -> Host:
    key = paramiko.ECDSAKey.generate()
    key.write_private_key_file(str(tmp_path / "id"))
    return Host(
        "portal-9",
        "127.0.0.1",
        ("portal",),
        {
            "ansible_user": "ops",
            "ansible_port": port,
            "ansible_ssh_private_key_file": str(tmp_path / "id"),
            "ansible_ssh_common_args": common_args,
        },
    )


def test_a_command_is_answered(tmp_path: Path, server: tuple[int, list[Any]]) -> None:
    port, _ = server
    known = tmp_path / "known_hosts"
    host = _host(
        tmp_path, port, f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known}"
    )
    result = connect.testinfra_host(host, sudo=False).run("echo hello")
    assert (result.rc, result.stdout, result.stderr) == (3, "hello\n", "note\n")
    assert "127.0.0.1" in known.read_text()  # accept-new recorded the key


def test_a_host_that_stops_answering_is_named_within_the_deadline(
    tmp_path: Path, server: tuple[int, list[Any]]
) -> None:
    port, channels = server
    known = tmp_path / "known_hosts"
    host = _host(
        tmp_path, port, f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known}"
    )
    target = connect.testinfra_host(host, sudo=False, deadline=1.5)
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as err:
        target.run("hang here")
    assert 1.4 < time.monotonic() - started < 5
    assert str(err.value).startswith("portal-9: no answer within 1.5 s (to `")
    sent = len(channels)
    started = time.monotonic()
    with pytest.raises(ConnectionFailed):  # a dead host is not asked again
        target.run("echo again")
    assert time.monotonic() - started < 0.5 and len(channels) == sent


def test_an_unknown_key_is_refused_with_how_to_record_it(
    tmp_path: Path, server: tuple[int, list[Any]]
) -> None:
    port, channels = server
    known = tmp_path / "known_hosts"
    known.write_text("")
    host = _host(tmp_path, port, f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known}")
    with pytest.raises(ConnectionFailed) as err:
        connect.testinfra_host(host, sudo=False).run("echo hello")
    assert str(err.value).startswith("portal-9: the SSH host key of 127.0.0.1 is not known: ")
    assert f"ssh-keyscan -t ed25519 127.0.0.1 >> {known}" in str(err.value)
    assert channels == [] and known.read_text() == ""


def test_a_changed_key_is_refused(tmp_path: Path, server: tuple[int, list[Any]]) -> None:
    port, _ = server
    known = tmp_path / "known_hosts"
    other = paramiko.ECDSAKey.generate()
    known.write_text(f"[127.0.0.1]:{port} {other.get_name()} {other.get_base64()}\n")
    host = _host(
        tmp_path, port, f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known}"
    )
    with pytest.raises(ConnectionFailed, match="is not the one recorded in"):
        connect.testinfra_host(host, sudo=False).run("echo hello")


def test_a_closed_port_is_one_line(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    host = _host(tmp_path, port, "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
    with pytest.raises(ConnectionFailed, match=r"^portal-9: cannot connect to 127\.0\.0\.1: "):
        connect.testinfra_host(host, sudo=False).run("true")


def test_the_command_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDIC_COMMAND_TIMEOUT", "20")
    assert connect.command_timeout() == 20
    monkeypatch.setenv("PDIC_COMMAND_TIMEOUT", "soon")
    with pytest.raises(PdicError, match="PDIC_COMMAND_TIMEOUT='soon': not a number"):
        connect.command_timeout()


class _RacingChannel:
    """A channel whose output lands in its buffer between pdic's check for output and its
    check for the exit status (paramiko's transport thread handles both packets meanwhile)."""

    def __init__(self) -> None:
        self.buffered = False
        self.out = [b"$nrconf{restart} = 'l';\n"]

    def recv_ready(self) -> bool:
        if not self.buffered:
            self.buffered = True  # the packets arrive right after this check
            return False
        return bool(self.out)

    def recv(self, size: int) -> bytes:
        return self.out.pop(0)

    def recv_stderr_ready(self) -> bool:
        return False

    def exit_status_ready(self) -> bool:
        return self.buffered

    def recv_exit_status(self) -> int:
        return 0


def test_output_that_arrives_with_the_exit_status_is_kept() -> None:
    inventory = load_inventory(REPO / "inventory" / "lab")
    backend = _PdicBackend("root@192.0.2.1", inventory.host("mail-1"), 5)
    rc, out, err = backend._collect(_RacingChannel(), b"cat")  # type: ignore[arg-type]
    assert (rc, out, err) == (0, b"$nrconf{restart} = 'l';\n", b"")
