"""The parsers of apt's simulation, needrestart and /proc, on recorded output."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdic.patch.apt import (
    Update,
    parse_deleted,
    parse_needrestart,
    parse_pending,
    to_restart,
    unit_of,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_pending_updates_are_the_inst_lines_with_old_and_new_versions() -> None:
    updates = parse_pending((FIXTURES / "apt-simulate.txt").read_text())
    assert updates == [
        Update("libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
        Update("openssl", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
        Update("linux-image-6.1.0-18-amd64", None, "6.1.76-1"),
        Update("pdic-patch-probe", "1", "2"),
    ]
    assert updates[2].line() == "linux-image-6.1.0-18-amd64 (new) -> 6.1.76-1"


def test_nothing_pending_is_an_empty_list() -> None:
    text = "Reading package lists...\nCalculating upgrade...\n0 upgraded, 0 newly installed\n"
    assert parse_pending(text) == []


def test_needrestart_lists_each_service_once() -> None:
    units = parse_needrestart((FIXTURES / "needrestart.txt").read_text())
    assert units == ["dbus.service", "nginx.service", "ssh.service"]


def test_deleted_libraries_are_mapped_to_their_system_services() -> None:
    found = parse_deleted((FIXTURES / "deleted-maps.txt").read_text())
    assert found == {
        "nginx.service": [
            "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        ],
        "postgresql@15-main.service": ["/usr/lib/x86_64-linux-gnu/libicuuc.so.72.1"],
        "ssh.service": ["/usr/lib/x86_64-linux-gnu/libssl.so.3"],
    }


@pytest.mark.parametrize(
    ("cgroup", "unit"),
    [
        ("0::/system.slice/cron.service\n", "cron.service"),
        (
            "0::/system.slice/system-postgresql.slice/postgresql@15-main.service",
            "postgresql@15-main.service",
        ),
        ("0::/user.slice/user-0.slice/session-1.scope", None),
        ("0::/init.scope", None),
        ("0::/system.slice/docker-1.scope", None),
        ("", None),
    ],
)
def test_unit_of_a_cgroup(cgroup: str, unit: str | None) -> None:
    assert unit_of(cgroup) == unit


def test_the_bus_and_logins_are_left_to_the_next_reboot() -> None:
    restart, left = to_restart(
        ["dbus.service", "nginx.service", "ssh.service", "getty@tty1.service"]
    )
    assert restart == ["nginx.service", "ssh.service"]
    assert left == ["dbus.service", "getty@tty1.service"]


def test_the_service_manager_is_left_to_the_next_reboot() -> None:
    # needrestart names PID 1 "systemd-manager": no unit systemctl could restart (seen in CI).
    restart, left = to_restart(["systemd-manager.service", "unattended-upgrades.service"])
    assert (restart, left) == (["unattended-upgrades.service"], ["systemd-manager.service"])
