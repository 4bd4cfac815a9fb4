"""Benchmark: backup and restore of a generated ~1 GB database on the lab.

Generates a database ``bench_backup`` on the primary (db-1) with pgbench's schema at the scale
that gives about 1 GB (``-s 70``; ``--scale`` to change), then times, on the lab as an operator
runs it:

- ``full_backup``: a full pgBackRest backup (``pgbackrest-backup@full.service`` on backup-1);
- ``diff_backup``: a differential one after 1 % of the rows changed;
- ``drill``: ``pdic db restore-drill`` (restore into the scratch instance, compare every table
  of every database with the paused replica, remove it); the generated database must be among
  them with all of its rows.

Each is repeated ``-n`` times (default 3), medians written with the database and repository
sizes to bench/results/db_backup_restore.json. The database is dropped at the end. Needs a
converged lab (`./scripts/demo`) and root (the lab's key). Not run by the tests.
Usage: `.venv/bin/python bench/db_backup_restore.py [-n 3] [--scale 70]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "db_backup_restore.json"
INVENTORY = ROOT / "inventory" / "lab"
DATABASE = "bench_backup"


def host(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "src"))
    from pdic.connect import testinfra_host
    from pdic.inventory import load_inventory

    return testinfra_host(load_inventory(INVENTORY).host(name), timeout=7200)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3)
    parser.add_argument("--scale", type=int, default=70)
    args = parser.parse_args()
    db1, backup1 = host("db-1"), host("backup-1")
    pg = "runuser -u postgres --"
    db1.check_output(f"{pg} createdb {DATABASE}")
    try:
        db1.check_output(f"{pg} pgbench -i -q -s {args.scale} {DATABASE}")
        size = int(db1.check_output(f"{pg} psql -XAtc \"SELECT pg_database_size('{DATABASE}')\""))
        times: dict[str, list[float]] = {"full_backup": [], "diff_backup": [], "drill": []}
        for _ in range(args.n):
            times["full_backup"].append(
                timed(
                    lambda: backup1.check_output("systemctl start pgbackrest-backup@full.service")
                )
            )
            db1.check_output(
                f"{pg} psql -d {DATABASE} -XAtc "
                '"UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = 0"'
            )
            times["diff_backup"].append(
                timed(
                    lambda: backup1.check_output("systemctl start pgbackrest-backup@diff.service")
                )
            )

            def drill() -> None:
                proc = subprocess.run(
                    [str(BIN / "pdic"), "db", "restore-drill", "-i", str(INVENTORY), "--json"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode != 0:
                    raise SystemExit(f"drill failed:\n{proc.stdout}\n{proc.stderr}")
                # The generated database itself was restored and matched, row for row.
                tables = json.loads(proc.stdout)["tables"]
                accounts = tables.get(f"{DATABASE}:public.pgbench_accounts", {})
                if accounts.get("rows") != args.scale * 100_000:
                    raise SystemExit(f"drill did not restore {DATABASE}: {accounts}")

            times["drill"].append(timed(drill))
        repo = backup1.check_output("du -sb /srv/backup/pgbackrest | cut -f1")
    finally:
        db1.run(f"{pg} dropdb --if-exists {DATABASE}")
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.node(),
        "database_bytes": size,
        "repository_bytes": int(repo),
        "repetitions": args.n,
        "seconds": times,
        "median_seconds": {k: round(statistics.median(v), 2) for k, v in times.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median_seconds"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
