"""Benchmark: requests per second on one portal site through nginx on the lab's portal host.

Variants, interleaved in one run so they see the same machine:
- ``keepalive``: each client thread keeps one HTTPS connection and sends GET / on it;
- ``handshake``: each request opens a new connection (a full TLS handshake every time).

The clients run on the control machine (the lab bridge's address) and reach the portal host by
its address with the site's name for SNI and Host, verifying the certificate against the
centre's root (read from the CA's publication point unless ``--cafile`` names one). Every
answer is counted by status: the site's per-client rate limit (``rate_limit``, 20r/s by
default) answers 429 beyond it, so a run from one address would measure the limiter; the lab
inventory lists the control machine in ``nginx_rate_limit_exempt``, so what is measured is
nginx serving the site. The 2xx rate is the figure that counts. Needs a converged lab
(`./scripts/demo`).
Writes per-variant rates, latency percentiles and status counts as JSON to
bench/results/web_rps.json. Usage:
`.venv/bin/python bench/web_rps.py [--site sotuphap] [--threads 8] [--seconds 10] [-n 3]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pdic.inventory import load_inventory  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "web_rps.json"
INVENTORY = ROOT / "inventory" / "lab"


def _context(cafile: str, hostname: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = True
    return context


class _Client(threading.Thread):
    def __init__(
        self, address: str, hostname: str, context: ssl.SSLContext, keepalive: bool, deadline: float
    ) -> None:
        super().__init__(daemon=True)
        self.address, self.hostname, self.context = address, hostname, context
        self.keepalive, self.deadline = keepalive, deadline
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []

    def _connection(self) -> http.client.HTTPSConnection:
        # The site's name for SNI, Host and the certificate check; the portal host's address
        # for the TCP connection (the control machine has no name for the site).
        conn = http.client.HTTPSConnection(self.hostname, 443, context=self.context, timeout=10)
        address = self.address
        conn._create_connection = (  # type: ignore[attr-defined]
            lambda _where, timeout, source=None: socket.create_connection((address, 443), timeout)
        )
        return conn

    def run(self) -> None:
        conn = self._connection() if self.keepalive else None
        while time.perf_counter() < self.deadline:
            current = conn or self._connection()
            start = time.perf_counter()
            try:
                current.request("GET", "/")
                response = current.getresponse()
                response.read()
                self.statuses[str(response.status)] += 1
            except (OSError, http.client.HTTPException) as exc:
                self.statuses[type(exc).__name__] += 1
                current.close()
                conn = self._connection() if self.keepalive else None
                continue
            self.latencies.append(time.perf_counter() - start)
            if not self.keepalive:
                current.close()


def run_variant(
    name: str, address: str, hostname: str, cafile: str, threads: int, seconds: float
) -> dict[str, object]:
    context = _context(cafile, hostname)
    deadline = time.perf_counter() + seconds
    clients = [
        _Client(address, hostname, context, name == "keepalive", deadline) for _ in range(threads)
    ]
    start = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    elapsed = time.perf_counter() - start
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    for client in clients:
        statuses.update(client.statuses)
        latencies.extend(client.latencies)
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    latencies.sort()

    def pct(p: float) -> float | None:
        return round(latencies[int(p * (len(latencies) - 1))] * 1000, 2) if latencies else None

    return {
        "seconds": round(elapsed, 3),
        "requests": sum(statuses.values()),
        "ok_per_second": round(ok / elapsed, 1),
        "all_per_second": round(sum(statuses.values()) / elapsed, 1),
        "statuses": dict(statuses),
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=None, help="portal_sites name (default: the first)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("-n", "--repetitions", type=int, default=3)
    parser.add_argument("--cafile", help="the centre's root (default: fetched from the CA host)")
    args = parser.parse_args()

    inv = load_inventory(INVENTORY)
    sites = inv.vars["portal_sites"]
    site = next((s for s in sites if s["name"] == args.site), None) if args.site else sites[0]
    if site is None:
        sys.exit(f"no portal site {args.site!r} in {INVENTORY}")
    portal = inv.hosts[inv.groups["portal"][0]]
    cafile = args.cafile
    if cafile is None:
        ca = inv.hosts[inv.groups["pki"][0]]
        with urllib.request.urlopen(f"http://{ca.address}/root.crt", timeout=10) as answer:
            pem = answer.read()
        handle, cafile = tempfile.mkstemp(suffix=".crt")
        os.write(handle, pem)
        os.close(handle)

    runs: dict[str, list[dict[str, object]]] = {"keepalive": [], "handshake": []}
    for _ in range(args.repetitions):
        for name in runs:
            result = run_variant(
                name, portal.address, site["hostname"], cafile, args.threads, args.seconds
            )
            print(f"{name}: {result['ok_per_second']} ok/s {result['statuses']}", flush=True)
            runs[name].append(result)
    summary = {
        name: {
            "median_ok_per_second": statistics.median(float(r["ok_per_second"]) for r in results),
            "median_all_per_second": statistics.median(float(r["all_per_second"]) for r in results),
        }
        for name, results in runs.items()
    }
    document = {
        "site": site["hostname"],
        "host": portal.name,
        "threads": args.threads,
        "seconds": args.seconds,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "summary": summary,
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
