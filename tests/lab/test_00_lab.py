"""`pdic lab`: booted hosts, each in its own network namespace, a proxy, a base without python3."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from conftest import Run, pdic

from pdic.inventory import Inventory
from pdic.lab import (
    ACNG_PORT,
    LabNet,
    LabPaths,
    _ns_name,
    _port_open,
    container_leader,
    nspawn_pid,
)


def test_base_image_has_no_python(lab: Run, lab_paths: LabPaths) -> None:
    assert (lab_paths.base / "usr/sbin/sshd").exists()
    assert not (lab_paths.base / "usr/bin/python3").exists()


def test_every_host_is_booted_with_systemd_running(lab: Run, inventory: Inventory) -> None:
    status = pdic("lab", "status", "--json")
    assert status.returncode == 0, status
    states = {s["name"]: s for s in json.loads(status.stdout)}
    assert set(states) == set(inventory.hosts)
    for name, host in inventory.hosts.items():
        assert states[name]["address"] == host.address
        assert states[name]["running"] is True
        assert states[name]["system"] == "running", states[name]


def test_each_host_has_its_own_namespace_and_address(lab: Run, inventory: Inventory) -> None:
    for name, host in inventory.hosts.items():
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                _ns_name(name),
                "ip",
                "-4",
                "-o",
                "addr",
                "show",
                "dev",
                "eth0",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"inet {host.address}/" in out
        assert _port_open(host.address, 22), f"{name}: no ssh banner on {host.address}:22"


def test_proxy_listens_on_the_bridge(lab: Run, inventory: Inventory) -> None:
    assert _port_open(LabNet.from_inventory(inventory).gateway, ACNG_PORT)


def test_second_up_is_a_quick_no_op(lab: Run) -> None:
    start = time.monotonic()
    again = pdic("lab", "up")
    assert again.returncode == 0, again
    assert "nothing to do" in again.stdout
    assert time.monotonic() - start < 30


def test_hosts_reach_only_the_lab_subnet(lab: Run, inventory: Inventory) -> None:
    # No default route and no resolver: nothing leaves the lab, and lookups fail at once.
    for name in inventory.hosts:
        inside = ["ip", "netns", "exec", _ns_name(name)]
        routes = subprocess.run([*inside, "ip", "-4", "route"], capture_output=True, text=True)
        assert "default" not in routes.stdout, f"{name}: {routes.stdout}"
        outside = subprocess.run([*inside, "ip", "route", "get", "192.0.2.1"], capture_output=True)
        assert outside.returncode != 0, f"{name}: an outside address is routable"
    assert "nameserver" not in (LabPaths.default().base / "etc/resolv.conf").read_text()


def test_each_host_has_its_own_cgroup(lab: Run, inventory: Inventory, lab_paths: LabPaths) -> None:
    # Containers sharing one cgroup saw each other's units fail "at step CGROUP" at boot.
    seen: dict[str, str] = {}
    for name in inventory.hosts:
        pid = nspawn_pid(lab_paths, name)
        leader = container_leader(pid) if pid else None
        assert leader, f"{name}: not running"
        lines = Path(f"/proc/{leader}/cgroup").read_text().splitlines()
        path = next(
            (ln.split(":", 2)[2] for ln in lines if ln.split(":")[1] == "name=systemd"), None
        )
        if path is None:  # pure cgroup v2
            path = next(ln.split(":", 2)[2] for ln in lines if ln.startswith("0::"))
        assert f"pdic-lab/{name}" in path, f"{name}: {path}"
        assert path not in seen.values(), f"{name} shares {path}"
        seen[name] = path
