"""Lab lifecycle on a converged lab: reboot comes back, down powers off, up restores state.

Runs last (file order): it stops and restarts the lab the other tests used.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from conftest import Run, pdic

from pdic.inventory import Inventory
from pdic.lab import LabPaths, _ns_name, _port_open, _veth_name, host_exec, nspawn_pid


def _boot_id(paths: LabPaths, name: str) -> str:
    return host_exec(paths, name, ["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()


def test_a_host_that_reboots_comes_back(
    redeployed: Run, inventory: Inventory, lab_paths: LabPaths
) -> None:
    name = "backup-1"
    address = inventory.host(name).address
    before = _boot_id(lab_paths, name)
    host_exec(lab_paths, name, ["systemctl", "reboot"])
    deadline = time.monotonic() + 60
    while _boot_id_safe(lab_paths, name) in (before, ""):
        assert time.monotonic() < deadline, "backup-1 did not come back after reboot"
        time.sleep(0.5)
    while not _port_open(address, 22):
        assert time.monotonic() < deadline, "backup-1 ssh did not come back after reboot"
        time.sleep(0.5)
    status = pdic("lab", "status", "--limit", name, "--json")
    assert '"running": true' in status.stdout


def _boot_id_safe(paths: LabPaths, name: str) -> str:
    try:
        return _boot_id(paths, name)
    except Exception:
        return ""


def test_down_powers_off_and_up_restores_state(
    redeployed: Run, inventory: Inventory, lab_paths: LabPaths
) -> None:
    pids = {name: nspawn_pid(lab_paths, name) for name in inventory.hosts}
    assert all(pids.values()), pids
    down = pdic("lab", "down")
    assert down.returncode == 0, down
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name}: systemd-nspawn still running"
        assert not Path("/run/netns", _ns_name(name)).exists()
        link = subprocess.run(["ip", "link", "show", _veth_name(name)], capture_output=True)
        assert link.returncode != 0, f"{name}: veth left behind"
        # A clean shutdown: systemd went through its final target and halted the container.
        console = (lab_paths.host(name) / "console.log").read_text(errors="replace")
        last_boot = console[console.rfind("Spawning container") :]
        assert "Halting system." in last_boot, f"{name}: {last_boot[-500:]}"
        assert f"Container {name} has been shut down." in last_boot, name

    start = time.monotonic()
    up = pdic("lab", "up")
    assert up.returncode == 0, up
    assert time.monotonic() - start < 60, "lab up from a cached base should take seconds"
    # State kept across stop/start: the operations account still logs in with sudo.
    again = pdic("deploy", "--check", "--limit", "mon-1")
    assert again.returncode == 0, again
