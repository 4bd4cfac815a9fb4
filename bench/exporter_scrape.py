"""Benchmark: one full pdic-exporter scrape (`generate_latest`) over ~10,000 series.

The sources are made in a temporary directory: 3,300 certificate files (3 series each), 20 CRLs
(2 each), a backup state file with 30 stanzas (2 each) and a mail queue of 500 messages (6
series), 10,006 series in all, served by the collectors the config file would turn on.

- ``cold``: the first scrape of freshly built collectors, so every file is read and parsed;
- ``warm``: later scrapes of the same collectors, where unchanged files are only stat()ed.

The target is under 100 ms per scrape. The machine's 1-minute load average before and after
the run is recorded with the result: other work on the machine shows in the numbers. Writes
the medians and p95s as JSON to bench/results/exporter_scrape.json.
Usage: `.venv/bin/python bench/exporter_scrape.py [--certs 3300] [--cold 7] [--warm 50]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, generate_latest

from pdic.exporter.app import build_registry
from pdic.exporter.mail import MailQueueCollector

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "exporter_scrape.json"
NOW = time.time()
DAY = 86_400


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tỉnh Thái Bình"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_sources(root: Path, certs: int, crls: int, stanzas: int) -> dict[str, object]:
    """Write the files; return the exporter config that reads them."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.fromtimestamp(NOW - 30 * DAY, dt.UTC)
    (root / "certs").mkdir()
    for i in range(certs):
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"host-{i:04d}.thaibinh.gov.vn"))
            .issuer_name(_name("PDIC Issuing CA"))
            .public_key(key.public_key())
            .serial_number(i + 1)
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=30 + i % 400))
            .sign(key, hashes.SHA256())
        )
        (root / "certs" / f"host-{i:04d}.pem").write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
        )
    (root / "crl").mkdir()
    for i in range(crls):
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(_name(f"PDIC CA {i}"))
            .last_update(start)
            .next_update(start + dt.timedelta(days=37))
            .sign(key, hashes.SHA256())
        )
        (root / "crl" / f"ca-{i}.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    state = {
        "stanzas": {
            f"db-{i}": {"last_success": NOW - 3600, "last_drill_success": NOW - 7 * DAY}
            for i in range(stanzas)
        }
    }
    (root / "backup-state.json").write_text(json.dumps(state))
    return {
        "collectors": {
            "certificates": {"paths": [str(root / "certs" / "*.pem")]},
            "crls": {"paths": [str(root / "crl" / "*.crl")]},
            "backup": {"state_file": str(root / "backup-state.json")},
        }
    }


def postqueue_output(messages: int) -> str:
    queues = ("active", "deferred", "deferred", "deferred", "hold", "incoming")
    return "".join(
        json.dumps(
            {
                "queue_name": queues[i % len(queues)],
                "queue_id": f"{i:010X}",
                "arrival_time": int(NOW - i * 60),
                "message_size": 2048,
                "forced_expire": False,
                "sender": "portal@thaibinh.gov.vn",
                "recipients": [{"address": f"user{i}@thaibinh.gov.vn"}],
            }
        )
        + "\n"
        for i in range(messages)
    )


def registry_for(config: dict[str, object], mail: str) -> CollectorRegistry:
    registry = build_registry(config)
    registry.register(MailQueueCollector(lambda: mail))
    return registry


def scrape(registry: CollectorRegistry) -> tuple[float, bytes]:
    start = time.perf_counter()
    body = generate_latest(registry)
    return time.perf_counter() - start, body


def summary(seconds: list[float]) -> dict[str, float | int]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {
        "runs": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(p95, 2),
        "min_ms": round(ms[0], 2),
        "max_ms": round(ms[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=3300)
    parser.add_argument("--cold", type=int, default=7, help="cold scrapes (fresh collectors)")
    parser.add_argument("--warm", type=int, default=50, help="warm scrapes")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="pdic-bench-") as tmp:
        config = make_sources(Path(tmp), args.certs, crls=20, stanzas=30)
        mail = postqueue_output(500)
        cold, warm = [], []
        series = 0
        for _ in range(args.cold):
            registry = registry_for(config, mail)
            elapsed, body = scrape(registry)
            cold.append(elapsed)
            series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        for _ in range(args.warm):
            warm.append(scrape(registry)[0])

    result = {
        "benchmark": "one full pdic-exporter scrape: generate_latest(registry)",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "series": series,
        "sources": {
            "certificate_files": args.certs,
            "crl_files": 20,
            "backup_stanzas": 30,
            "queued_messages": 500,
        },
        "target_ms": 100,
        "cold": summary(cold),
        "warm": summary(warm),
        "machine": {
            "python": platform.python_version(),
            "prometheus_client": version("prometheus-client"),
            "cryptography": version("cryptography"),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
