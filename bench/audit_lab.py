"""Benchmark: `pdic audit` of the whole lab, every control on every host, as an auditor runs it.

Variants, interleaved in one run so they see the same machine:
- ``audit``: `pdic audit` with the lab's waivers, every format written;
- ``audit-lynis``: the same with ``--lynis`` (Lynis on every host over the same connections),
  only with ``--lynis`` given here: Lynis takes a minute or more per host.

Each run's JSON report is read back: every inventory host must be in it and none unreachable,
so a fast run that saw nothing does not count. Needs a converged lab (`./scripts/demo`).
Writes the times, medians and the per-host result counts as JSON to
bench/results/audit_lab.json. Usage: `.venv/bin/python bench/audit_lab.py [-n 5] [--lynis]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "audit_lab.json"
INVENTORY = ROOT / "inventory" / "lab"
WAIVERS = ROOT / "compliance" / "waivers.lab.yml"


def run_variant(name: str, out: Path) -> tuple[float, dict[str, object]]:
    argv = [str(BIN / "pdic"), "audit", "-i", str(INVENTORY), "-w", str(WAIVERS), "-o", str(out)]
    if name == "audit-lynis":
        argv.append("--lynis")
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: a control failed, which an audit may report
        sys.exit(f"{name}: failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr}")
    document = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    results = document["results"]
    unreachable = sorted({r["host"] for r in results if "host unreachable" in r["message"]})
    if unreachable:
        sys.exit(f"{name}: hosts unreachable: {unreachable}: is the lab up?")
    summary = {
        "hosts": len(document["hosts"]),
        "results": len(results),
        "centre_score": document["centre"]["score"],
        "counts": document["centre"]["counts"],
    }
    if name == "audit-lynis":
        summary["lynis"] = {h: v["hardening_index"] for h, v in document.get("lynis", {}).items()}
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repetitions", type=int, default=5)
    parser.add_argument("--lynis", action="store_true", help="Also time `pdic audit --lynis`.")
    args = parser.parse_args()
    variants = ["audit", *(["audit-lynis"] if args.lynis else [])]
    times: dict[str, list[float]] = {v: [] for v in variants}
    summaries: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run_variant("audit", out)  # warm-up: SSH host keys, page cache, sudo timestamps
        for i in range(args.repetitions):
            for v in variants:
                elapsed, summaries[v] = run_variant(v, out)
                times[v].append(round(elapsed, 2))
                print(f"run {i + 1}/{args.repetitions} {v}: {elapsed:.2f} s", flush=True)
    result = {
        "benchmark": "pdic audit of inventory/lab, every control, every host",
        "repetitions": args.repetitions,
        "seconds": times,
        "median_seconds": {v: round(statistics.median(t), 2) for v, t in times.items()},
        "last_run": summaries,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
