"""pdic.connect: how the inventory's ssh options choose host-key checking (no connection made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdic import connect
from pdic.connect import _KnownHostsBackend, ssh_options
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
    assert isinstance(backend, _KnownHostsBackend)
    assert backend.known_hosts == Path("/var/lib/pdic-lab/ssh/known_hosts")
    assert backend.accept_new
    assert (backend.host.user, backend.host.name) == ("pdicops", "10.251.0.31")


def test_strict_checking_refuses_unknown_keys() -> None:
    host = Host(
        "x",
        "192.0.2.9",
        ("portal",),
        {
            "ansible_user": "ops",
            "ansible_ssh_common_args": "-o UserKnownHostsFile=~/kh -o StrictHostKeyChecking=yes",
        },
    )
    backend = connect.testinfra_host(host).backend
    assert not backend.accept_new and backend.known_hosts == Path("~/kh").expanduser()


def test_without_a_known_hosts_file_testinfra_decides() -> None:
    host = Host("x", "192.0.2.9", ("portal",), {"ansible_user": "ops"})
    assert not isinstance(connect.testinfra_host(host).backend, _KnownHostsBackend)
