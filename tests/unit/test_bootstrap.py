"""pdic.bootstrap's pure parts: /etc/hosts, the ops account's keys and pyinfra connection data.

Importing pdic.bootstrap monkeypatches the process for gevent (as the pdic command does), so it is
imported here once, at module level. Nothing here connects to a host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pdic import bootstrap
from pdic.errors import BootstrapError
from pdic.inventory import Host, Inventory, load_inventory

REPO = Path(__file__).resolve().parents[2]
VALID = REPO / "tests" / "inventory_corpus" / "_valid"
KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA0000000000000000000000000000000000000000000 a@ops"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1111111111111111111111111111111111111111111 b@ops"
LOOPBACK = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
]


def _host(name: str = "portal-1", address: str = "192.0.2.11", **host_vars: Any) -> Host:
    return Host(name, address, ("portal",), host_vars)


def _inventory(domain: str | None) -> Inventory:
    hosts = {h.name: h for h in (_host(), _host("db-1", "192.0.2.31"))}
    all_vars = {} if domain is None else {"pdic_domain": domain}
    return Inventory(Path("inv"), hosts, {"portal": ("portal-1",), "db": ("db-1",)}, all_vars)


# --------------------------------------------------------------------------------------------
# /etc/hosts


def test_etc_hosts_lists_every_host_with_fqdn_and_short_name() -> None:
    inv = load_inventory(VALID)
    text = bootstrap.render_etc_hosts(inv, inv.host("mail-1"))
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0].startswith("#")
    assert lines[1:5] == LOOPBACK
    assert lines[5:] == [
        f"{h.address}\t{h.name}.example.gov.vn\t{h.name}" for h in inv.select(None)
    ]
    assert len(lines[5:]) == 9


def test_etc_hosts_without_a_domain_has_short_names_only() -> None:
    inv = _inventory(None)
    lines = bootstrap.render_etc_hosts(inv, inv.host("db-1")).splitlines()
    assert lines[1:] == [*LOOPBACK, "192.0.2.11\tportal-1", "192.0.2.31\tdb-1"]


def test_etc_hosts_domain_with_a_trailing_dot() -> None:
    inv = _inventory("lab.example.")
    lines = bootstrap.render_etc_hosts(inv, inv.host("db-1")).splitlines()
    assert lines[-2:] == [
        "192.0.2.11\tportal-1.lab.example\tportal-1",
        "192.0.2.31\tdb-1.lab.example\tdb-1",
    ]


# --------------------------------------------------------------------------------------------
# the operations account's keys


def test_ops_keys_inline_and_from_files(tmp_path: Path) -> None:
    keyfile = tmp_path / "ops.pub"
    keyfile.write_text(f"\n{KEY_B}\n\n")
    host = _host(
        pdic_ops_authorized_keys=[f"  {KEY_A}\n"],
        pdic_ops_authorized_key_files=[str(keyfile)],
    )
    assert bootstrap.ops_public_keys(host) == [KEY_A, KEY_B]


def test_ops_key_file_with_a_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text(f"{KEY_A}\n{KEY_B}\n")
    host = _host(pdic_ops_authorized_key_files=["~/.ssh/id_ed25519.pub"])
    assert bootstrap.ops_public_keys(host) == [KEY_A, KEY_B]


def test_ops_key_file_missing_names_the_host_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "nobody.pub"
    host = _host(pdic_ops_authorized_keys=[KEY_A], pdic_ops_authorized_key_files=[str(missing)])
    with pytest.raises(BootstrapError) as err:
        bootstrap.ops_public_keys(host)
    message = str(err.value)
    assert message.startswith("portal-1: pdic_ops_authorized_key_files: ")
    assert f"cannot read {missing}: " in message


@pytest.mark.parametrize(
    "host_vars",
    [
        {},
        {"pdic_ops_authorized_keys": [], "pdic_ops_authorized_key_files": []},
        {"pdic_ops_authorized_keys": None, "pdic_ops_authorized_key_files": None},
    ],
    ids=["unset", "empty", "null"],
)
def test_ops_keys_none_at_all_is_an_error(host_vars: dict[str, Any]) -> None:
    with pytest.raises(BootstrapError, match=r"^portal-1: .*no public key"):
        bootstrap.ops_public_keys(_host(**host_vars))


def test_ops_keys_from_an_empty_key_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pub"
    empty.write_text("\n")
    with pytest.raises(BootstrapError, match="no public key"):
        bootstrap.ops_public_keys(_host(pdic_ops_authorized_key_files=[str(empty)]))


def test_ops_key_given_as_a_string_is_one_key_or_an_error() -> None:
    try:
        keys = bootstrap.ops_public_keys(_host(pdic_ops_authorized_keys=KEY_A))
    except BootstrapError:
        return
    assert keys == [KEY_A]


# --------------------------------------------------------------------------------------------
# connection data


TIMEOUTS = {"banner_timeout": 10, "auth_timeout": 10}


def test_connection_data_defaults_refuse_an_unknown_key() -> None:
    # No policy in the inventory: OpenSSH would ask; pdic refuses (never accepts silently).
    assert bootstrap.connection_data(_host()) == {
        "ssh_hostname": "192.0.2.11",
        "ssh_user": "root",
        "ssh_port": 22,
        "ssh_strict_host_key_checking": "yes",
        "ssh_paramiko_connect_kwargs": TIMEOUTS,
    }


@pytest.mark.parametrize("policy", ["yes", "no", "accept-new"])
def test_connection_data_honours_the_inventorys_policy(policy: str) -> None:
    args = f"-o StrictHostKeyChecking={policy}"
    data = bootstrap.connection_data(_host(ansible_ssh_common_args=args))
    assert data["ssh_strict_host_key_checking"] == policy


def test_the_reference_province_is_strict() -> None:
    inv = load_inventory(REPO / "inventory" / "thaibinh")
    data = bootstrap.connection_data(inv.host("portal-1"))
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert data["ssh_known_hosts_file"].endswith("/.ssh/known_hosts.pdic-thaibinh")


def test_connection_data_of_the_lab_inventory() -> None:
    inv = load_inventory(REPO / "inventory" / "lab")
    data = bootstrap.connection_data(inv.host("db-1"))
    assert data == {
        "ssh_hostname": "10.251.0.31",
        "ssh_user": "root",
        "ssh_port": 22,
        "ssh_strict_host_key_checking": "accept-new",
        "ssh_paramiko_connect_kwargs": TIMEOUTS,
        "ssh_key": "/var/lib/pdic-lab/ssh/id_ed25519",
        "ssh_known_hosts_file": "/var/lib/pdic-lab/ssh/known_hosts",
    }


def test_connection_data_expands_the_key_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    data = bootstrap.connection_data(_host(ansible_ssh_private_key_file="~/.ssh/lab"))
    assert data["ssh_key"] == str(tmp_path / ".ssh" / "lab")


def test_connection_data_other_user_uses_sudo() -> None:
    data = bootstrap.connection_data(_host(pdic_bootstrap_user="debian", ansible_port="2222"))
    assert data["ssh_user"] == "debian"
    assert data["_sudo"] is True
    assert data["ssh_port"] == 2222


def test_connection_data_known_hosts_among_other_ssh_args() -> None:
    args = "-o ControlMaster=auto -o UserKnownHostsFile=/srv/kh -o ServerAliveInterval=5"
    data = bootstrap.connection_data(_host(ansible_ssh_common_args=args))
    assert data["ssh_known_hosts_file"] == "/srv/kh"


# --------------------------------------------------------------------------------------------
# proxy text and results


def test_proxy_text() -> None:
    lines = bootstrap.PROXY_TEXT.format(url="http://10.251.0.1:3142").splitlines()
    assert 'Acquire::http::Proxy "http://10.251.0.1:3142";' in lines
    assert 'Acquire::http::Pipeline-Depth "0";' in lines
    assert lines[0].startswith("#")


@pytest.mark.parametrize(
    ("fields", "success"),
    [
        ({}, True),
        ({"ok": 12, "changed": 3}, True),
        ({"ok": 11, "failed": 1}, False),
        ({"unreachable": True}, False),
    ],
)
def test_host_result_success(fields: dict[str, Any], success: bool) -> None:
    assert bootstrap.HostResult("db-1", **fields).success is success


def test_every_connection_gets_tcp_nodelay_and_keepalives() -> None:
    # A real TCP connection on loopback, behind the attributes pyinfra's SSH connector has.
    import socket
    from types import SimpleNamespace

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    try:
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        keepalive: list[int] = []
        transport = SimpleNamespace(sock=client, set_keepalive=keepalive.append)
        connector = SimpleNamespace(client=SimpleNamespace(get_transport=lambda: transport))
        unconnected = SimpleNamespace(connector=SimpleNamespace(client=None))
        state = SimpleNamespace(activated_hosts=[SimpleNamespace(connector=connector), unconnected])
        bootstrap.set_nodelay(state)  # type: ignore[arg-type]
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert keepalive == [bootstrap.KEEPALIVE_SECONDS]
    finally:
        client.close()
        server.close()
