"""Benchmark: `pdic patch` of the whole lab, and how long each service is unavailable during it.

An update is made pending on every host (``pdic-patch-probe`` 1 installed, 2 offered, from a
repository served on the lab bridge by :mod:`pdic.lab_repo`; 2 asks for a reboot, as a kernel
or libc update does). Then `pdic patch --allow-outage` patches the whole lab (every service of
the small lab has one host: each host's turn is an outage of its service), while probes from
the controller, another host, ask each service every 0.2 s:

- ``portal``: every portal site's front page over HTTPS (the site's name, the portal host's
  address, verified against the centre's root);
- ``eoffice`` and ``hcc``: each application's ``/healthz`` through its nginx;
- ``mail``: the SMTP greeting of the mail host (port 25).

The primary database is seen through the applications: their ``/healthz`` answers 503 while
it cannot query the database (the firewall admits PostgreSQL from the application and backup
hosts only, not from the controller).

It records the wave's duration and, per service, the longest run of failed answers (the
unavailability a user sees) and how many probes failed. Needs a converged lab
(`./scripts/demo`). Writes bench/results/patch_lab.json.
Usage: `.venv/bin/python bench/patch_lab.py`.
"""

from __future__ import annotations

import http.client
import json
import platform
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pdic.connect import testinfra_host
from pdic.inventory import Inventory, load_inventory
from pdic.lab import LabNet
from pdic.lab_repo import PACKAGE, build, served

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventory" / "lab"
RESULTS = ROOT / "bench" / "results" / "patch_lab.json"
PDIC = str(Path(sys.executable).parent / "pdic")
PORT = 8089
EVERY = 0.2
SOURCE = f"/etc/apt/sources.list.d/{PACKAGE}.list"
DIRECT = f"/etc/apt/apt.conf.d/99{PACKAGE}"


class Probe(threading.Thread):
    """Asks ``ask`` every EVERY seconds until stopped; keeps the longest gap of failures."""

    def __init__(self, name: str, ask: Callable[[], None]) -> None:
        super().__init__(daemon=True, name=name)
        self.ask = ask
        self.stopping = threading.Event()
        self.probes = 0
        self.failed = 0
        self.longest = 0.0
        self.first_failure: float | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.ask()
                if self.first_failure is not None:
                    self.longest = max(self.longest, started - self.first_failure)
                    self.first_failure = None
            except Exception:
                self.failed += 1
                if self.first_failure is None:
                    self.first_failure = started
            self.probes += 1
            self.stopping.wait(max(0.0, EVERY - (time.monotonic() - started)))
        if self.first_failure is not None:
            self.longest = max(self.longest, time.monotonic() - self.first_failure)

    def result(self) -> dict[str, float | int]:
        return {
            "probes": self.probes,
            "failed": self.failed,
            "longest_unavailable_s": round(self.longest, 2),
        }


def _https(address: str, name: str, path: str, context: ssl.SSLContext) -> Callable[[], None]:
    def ask() -> None:
        sock = socket.create_connection((address, 443), timeout=2)
        with context.wrap_socket(sock, server_hostname=name) as tls:
            conn = http.client.HTTPConnection(name, timeout=2)
            conn.sock = tls
            conn.request("GET", path, headers={"Host": name})
            status = conn.getresponse().status
        if status != 200:
            raise RuntimeError(f"{name}{path}: HTTP {status}")

    return ask


def _smtp(address: str) -> Callable[[], None]:
    def ask() -> None:
        with socket.create_connection((address, 25), timeout=2) as sock:
            if not sock.recv(64).startswith(b"220"):
                raise RuntimeError("no SMTP greeting")

    return ask


def probes(inventory: Inventory, root_ca: str) -> dict[str, Callable[[], None]]:
    context = ssl.create_default_context(cadata=root_ca)
    portal = inventory.select("portal")[0].address
    sites = list(inventory.vars.get("portal_sites", []))
    found: dict[str, Callable[[], None]] = {}
    site_asks = [_https(portal, str(s["hostname"]), "/", context) for s in sites]

    def portal_ask() -> None:
        for ask in site_asks:
            ask()

    found["portal"] = portal_ask
    for app in inventory.vars.get("pdic_applications", []):
        host = inventory.select(str(app["group"]))[0].address
        found[str(app["name"])] = _https(host, str(app["hostname"]), "/healthz", context)
    found["mail"] = _smtp(inventory.select("mail")[0].address)
    return found


def make_pending(inventory: Inventory, repo: Path) -> None:
    """Version 1 of the probe on every host, 2 offered by the repository being served."""
    address = LabNet.from_inventory(inventory).gateway
    line = build(repo, address, PORT)
    for host in inventory.hosts.values():
        target = testinfra_host(host)
        target.check_output("printf '%%s\\n' %s > %s", line, SOURCE)
        target.check_output(
            "printf 'Acquire::http::Proxy::%s \"DIRECT\";\\n' > %s", address, DIRECT
        )
        target.check_output(
            "apt-get update -qq -o Dir::Etc::sourcelist=%s -o Dir::Etc::sourceparts=- "
            "-o APT::Get::List-Cleanup=0 && DEBIAN_FRONTEND=noninteractive "
            "apt-get install -qq -y --allow-downgrades %s=1",
            SOURCE,
            PACKAGE,
        )


def main() -> int:
    inventory = load_inventory(INVENTORY)
    ca_host = testinfra_host(inventory.select("pki")[0])
    root_name = inventory.vars.get("pki_ca_root", {}).get("name", "pdic-root")
    root_ca = ca_host.check_output("cat /usr/local/share/ca-certificates/pdic/%s.crt", root_name)
    address = LabNet.from_inventory(inventory).gateway
    with tempfile.TemporaryDirectory(prefix="pdic-bench-repo-") as tmp:
        repo = Path(tmp)
        make_pending(inventory, repo)
        with served(repo, address, PORT):
            running = {name: Probe(name, ask) for name, ask in probes(inventory, root_ca).items()}
            for probe in running.values():
                probe.start()
            time.sleep(3)  # every service answers before the wave begins
            started = time.monotonic()
            wave = subprocess.run(
                [PDIC, "patch", "--allow-outage", "-i", str(INVENTORY)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            took = time.monotonic() - started
            time.sleep(3)
            for probe in running.values():
                probe.stopping.set()
            for probe in running.values():
                probe.join()
        for host in inventory.hosts.values():
            testinfra_host(host).run("rm -f %s %s", SOURCE, DIRECT)
    patched = sum(1 for line in wave.stdout.splitlines() if "  patched:" in line)
    result = {
        "benchmark": "pdic patch --allow-outage of the whole lab, services probed every 0.2 s",
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "hosts": len(inventory.hosts),
        "hosts_patched": patched,
        "exit_code": wave.returncode,
        "wave_seconds": round(took, 1),
        "seconds_per_host": round(took / max(patched, 1), 1),
        "services": {name: probe.result() for name, probe in running.items()},
        "note": "the small lab has one host per service: each host's turn (update, reboot, "
        "health) is its service's outage; with two hosts per group the wave keeps a peer "
        "serving. The primary database is seen through eoffice and hcc, whose /healthz "
        "queries it (the controller may not reach PostgreSQL).",
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if wave.returncode != 0:
        print(wave.stdout, wave.stderr, file=sys.stderr)
    return wave.returncode


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
