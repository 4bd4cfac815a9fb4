"""Benchmark: provisioning 6,000 mailboxes on the lab's mail host, then changing 10.

A copy of the lab inventory gets 6,000 more mailboxes (``bench00001@`` ... spread over the lab's
mail domains, quotas 1G/2G/5G, one in fifty disabled). With that copy, as an operator runs it
(``pdic deploy --limit mail-1 --playbook playbooks/mail.yml``), it times:

- ``first``: the deploy that provisions them (hashes made on the controller, one helper run,
  6,000 Maildirs);
- ``nochange``: the same deploy again (one list compared; nothing written);
- ``change10``: a deploy after 10 mailboxes changed (3 added, 2 removed and archived, 2
  disabled, 3 new quotas), after checking that ``pdic mail diff`` shows exactly those 10.

``nochange`` and ``change10`` are repeated ``-n`` times (default 3; each change10 round changes
other mailboxes); medians go to bench/results/mail_provision.json. At the end the lab inventory
is deployed again: the bench mailboxes are removed (timed as ``remove_all``: their Maildirs are
archived) and their archive is deleted. Needs a converged lab (`./scripts/demo`) and root (the
lab's key and vault password). Not run by the tests.
Usage: `.venv/bin/python bench/mail_provision.py [-n 3] [--mailboxes 6000]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "mail_provision.json"
INVENTORY = ROOT / "inventory" / "lab"
HOST = "mail-1"
PREFIX = "bench"


def pdic(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN / "pdic"), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"pdic {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr}")
    return proc


def deploy(inventory: Path) -> float:
    start = time.perf_counter()
    pdic("deploy", "-i", str(inventory), "--limit", HOST, "--playbook", "playbooks/mail.yml")
    return time.perf_counter() - start


def bench_mailboxes(domains: list[str], count: int) -> list[dict[str, Any]]:
    quotas = ("1G", "2G", "1G", "5G", "2G")
    boxes = []
    for i in range(1, count + 1):
        box: dict[str, Any] = {
            "address": f"{PREFIX}{i:05d}@{domains[i % len(domains)]}",
            "name": f"Bench {i}",
            "agency": "so-thong-tin",
            "quota": quotas[i % len(quotas)],
        }
        if i % 50 == 0:
            box["state"] = "disabled"
        boxes.append(box)
    return boxes


def write(inventory: Path, province: dict[str, Any]) -> None:
    path = inventory / "group_vars" / "all" / "province.yml"
    path.write_text(yaml.safe_dump(province, allow_unicode=True, sort_keys=False))


def change_ten(province: dict[str, Any], round_: int) -> list[str]:
    """Change 10 bench mailboxes (a different ten each round); the addresses changed."""
    boxes = [b for b in province["mail_mailboxes"] if b["address"].startswith(PREFIX)]
    base = 100 * round_
    removed = [boxes[base + 1]["address"], boxes[base + 2]["address"]]
    for box in boxes[base + 3 : base + 5]:
        box["state"] = "disabled"
    for box in boxes[base + 6 : base + 9]:
        box["quota"] = "3G"
    domain = boxes[0]["address"].split("@")[1]
    added = [
        {
            "address": f"{PREFIX}new{round_}x{n}@{domain}",
            "name": "Bench new",
            "quota": "1G",
            "agency": "so-thong-tin",
        }
        for n in range(3)
    ]
    province["mail_mailboxes"] = [
        b for b in province["mail_mailboxes"] if b["address"] not in removed
    ] + added
    changed = removed + [
        b["address"] for b in boxes[base + 3 : base + 5] + boxes[base + 6 : base + 9]
    ]
    return changed + [a["address"] for a in added]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3)
    parser.add_argument("--mailboxes", type=int, default=6000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pdic-bench-mail-"))
    inventory = work / "lab"
    shutil.copytree(INVENTORY, inventory)
    province = yaml.safe_load((INVENTORY / "group_vars" / "all" / "province.yml").read_text())
    domains = [d["name"] for d in province["mail_domains"]]
    province["mail_mailboxes"] += bench_mailboxes(domains, args.mailboxes)
    write(inventory, province)
    times: dict[str, list[float]] = {"first": [], "nochange": [], "change10": []}
    try:
        times["first"].append(deploy(inventory))
        for round_ in range(args.n):
            times["nochange"].append(deploy(inventory))
            changed = change_ten(province, round_)
            write(inventory, province)
            (plan,) = json.loads(pdic("mail", "diff", "-i", str(inventory), "--json").stdout)
            if plan["changes"] != 10:
                raise SystemExit(f"pdic mail diff shows {plan['changes']} changes, not 10: {plan}")
            touched = {*plan["add"], *plan["remove"], *plan["disable"], *plan["enable"]}
            if touched | {q[0] for q in plan["quota"]} != set(changed):
                raise SystemExit(f"pdic mail diff shows other mailboxes than {changed}: {plan}")
            times["change10"].append(deploy(inventory))
    finally:
        remove_all = deploy(INVENTORY)
        sys.path.insert(0, str(ROOT / "src"))
        from pdic.connect import testinfra_host
        from pdic.inventory import load_inventory

        host = testinfra_host(load_inventory(INVENTORY).host(HOST), timeout=600)
        host.run(f"rm -rf /var/vmail-archive/*/{PREFIX}*")
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "benchmark": f"{args.mailboxes} mailboxes on {HOST} (playbooks/mail.yml, inventory/lab)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.node(),
        "mailboxes": args.mailboxes,
        "repetitions": args.n,
        "seconds": {**times, "remove_all": [remove_all]},
        "median_seconds": {k: round(statistics.median(v), 2) for k, v in times.items()}
        | {"remove_all": round(remove_all, 2)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median_seconds"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
