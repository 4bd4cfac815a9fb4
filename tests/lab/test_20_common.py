"""The common role's outcome on every host, checked with testinfra over the same inventory."""

from __future__ import annotations

import pytest

from pdic.inventory import load_inventory

HOSTS = list(load_inventory("inventory/lab").hosts)


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, connect):  # type: ignore[no-untyped-def]
    return connect(request.param)


def test_systemd_has_no_failed_unit(host) -> None:  # type: ignore[no-untyped-def]
    state = host.run("systemctl is-system-running")
    failed = host.run("systemctl --failed --no-legend --plain")
    assert state.stdout.strip() == "running", failed.stdout


def test_hostname_is_the_inventory_name(host) -> None:  # type: ignore[no-untyped-def]
    expected = host.backend.hostname  # paramiko://user@ADDRESS
    name = host.check_output("hostname")
    inv = load_inventory("inventory/lab")
    assert inv.host(name).address == expected


def test_every_inventory_host_resolves_by_name(host) -> None:  # type: ignore[no-untyped-def]
    inv = load_inventory("inventory/lab")
    for other in inv.hosts.values():
        out = host.check_output("getent hosts %s", other.name)
        assert out.split()[0] == other.address


def test_operations_account_has_sudo_and_bash(host, connect) -> None:  # type: ignore[no-untyped-def]
    user = host.user("pdicops")
    assert user.exists
    assert user.shell == "/bin/bash"
    sudoers = host.file("/etc/sudoers.d/pdic-ops")
    assert (sudoers.user, sudoers.group, sudoers.mode) == ("root", "root", 0o440)
    assert host.run("visudo -cf /etc/sudoers.d/pdic-ops").rc == 0


def test_python_and_base_packages(host) -> None:  # type: ignore[no-untyped-def]
    for pkg in ("python3", "python3-apt", "chrony", "unattended-upgrades", "locales", "tzdata"):
        assert host.package(pkg).is_installed, pkg


def test_timezone_is_ho_chi_minh(host) -> None:  # type: ignore[no-untyped-def]
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Asia/Ho_Chi_Minh"
    assert host.check_output("date +%z") == "+0700"


def test_vietnamese_and_english_locales_work(host) -> None:  # type: ignore[no-untyped-def]
    available = host.check_output("locale -a").split()
    assert {"en_US.utf8", "vi_VN.utf8"} <= set(available)
    out = host.run("LC_ALL=vi_VN.UTF-8 date +%A")
    assert out.rc == 0 and "Cannot set" not in out.stderr, out.stderr


def test_journal_is_persistent(host) -> None:  # type: ignore[no-untyped-def]
    assert host.file("/var/log/journal").is_directory
    header = host.check_output("journalctl --header --no-pager | grep -m1 'File path'")
    assert "/var/log/journal/" in header


def test_time_sync_daemon_runs(host) -> None:  # type: ignore[no-untyped-def]
    chrony = host.service("chrony")
    assert chrony.is_enabled
    assert chrony.is_running
    assert host.run("chronyc -n tracking").rc == 0


def test_unattended_security_upgrades_are_on(host) -> None:  # type: ignore[no-untyped-def]
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert "bookworm-security" in dump or "${distro_codename}-security" in dump
    assert host.run("unattended-upgrade --dry-run").rc == 0


def test_packages_come_through_the_lab_proxy(host) -> None:  # type: ignore[no-untyped-def]
    assert "10.251.0.1:3142" in host.check_output("apt-config dump Acquire::http::Proxy")
    assert host.run("apt-get -q update -o Acquire::http::Timeout=15").rc == 0


def test_hosts_reach_each_other(host) -> None:  # type: ignore[no-untyped-def]
    # From this host to another over the lab network, by name: the log collector on mon-1,
    # which the firewall opens to every host (SSH is open to the control machine only).
    assert host.run("timeout 5 bash -c 'exec 3<>/dev/tcp/%s/514'", "mon-1").rc == 0
