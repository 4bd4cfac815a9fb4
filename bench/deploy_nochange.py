"""Benchmark: a no-change `site.yml` run on the whole lab, pdic's settings against Ansible's.

Variants, interleaved in one run so they see the same machine:
- ``pdic``: `pdic deploy` as shipped (ansible.cfg: pipelining, ControlPersist, fact cache,
  forks 20; Mitogen strategy);
- ``pdic-plain``: the same settings with plain Ansible (`--engine ansible`);
- ``ansible-defaults``: ansible-playbook with no ansible.cfg at all (only the paths of the
  roles and of pdic's plugins, and the vault password).

Needs a converged lab (`./scripts/demo`). Writes medians and ratios as JSON to
bench/results/deploy_nochange.json. Usage: `.venv/bin/python bench/deploy_nochange.py [-n 3]`.
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

from pdic.deploy import vault_password_args
from pdic.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "deploy_nochange.json"
VARIANTS = ("pdic", "pdic-plain", "ansible-defaults")


def _changed(output: str) -> int:
    total = 0
    for line in output.splitlines():
        for part in line.split():
            if part.startswith("changed="):
                total += int(part.split("=", 1)[1])
    return total


def run_variant(name: str, empty_cfg: Path) -> tuple[float, int]:
    env = dict(os.environ)
    if name == "ansible-defaults":
        # No tuning at all; only where the playbooks' own code is (roles and pdic's plugins),
        # and the vault password the database roles need.
        plugins = ROOT / "src" / "pdic" / "ansible_plugins"
        env.update(
            {
                "ANSIBLE_CONFIG": str(empty_cfg),
                "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
                "ANSIBLE_FILTER_PLUGINS": str(plugins / "filter"),
                "ANSIBLE_LOOKUP_PLUGINS": str(plugins / "lookup"),
                "ANSIBLE_ACTION_PLUGINS": str(plugins / "action"),
            }
        )
        inventory = load_inventory(ROOT / "inventory" / "lab")
        argv = [
            str(BIN / "ansible-playbook"),
            "-i",
            "inventory/lab",
            *vault_password_args(inventory),
            "playbooks/site.yml",
        ]
    else:
        engine = "mitogen" if name == "pdic" else "ansible"
        argv = [str(BIN / "pdic"), "deploy", "--engine", engine]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(
            f"{name}: failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    return elapsed, _changed(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repetitions", type=int, default=3)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated subset of %(default)s (pdic-plain doubles the run's length)",
    )
    args = parser.parse_args()
    variants = [v for v in VARIANTS if v in args.variants.split(",")]
    if "pdic" not in variants or "ansible-defaults" not in variants:
        parser.error("--variants must include pdic and ansible-defaults (the ratio's terms)")
    times: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        empty_cfg = Path(tmp) / "ansible.cfg"
        empty_cfg.write_text("[defaults]\n")
        # Warm-up: converge, fill the fact cache (shared by both pdic variants) and open the
        # control sockets. The defaults keep no cache, and their 60 s ControlPersist lapses
        # between their runs anyway, so a warm-up of theirs would change nothing.
        run_variant(variants[0], empty_cfg)
        for i in range(args.repetitions):
            for v in variants:
                elapsed, changed = run_variant(v, empty_cfg)
                if changed:
                    sys.exit(
                        f"{v}: a no-change run reported changed={changed}: converge the lab first"
                    )
                times[v].append(round(elapsed, 2))
                print(f"run {i + 1}/{args.repetitions} {v}: {elapsed:.2f} s", flush=True)
    medians = {v: round(statistics.median(t), 2) for v, t in times.items()}
    result = {
        "benchmark": "no-change playbooks/site.yml on inventory/lab",
        "hosts": 9,
        "repetitions": args.repetitions,
        "seconds": times,
        "median_seconds": medians,
        "ratio_defaults_over_pdic": round(medians["ansible-defaults"] / medians["pdic"], 2),
        "ratio_defaults_over_pdic_plain": (
            round(medians["ansible-defaults"] / medians["pdic-plain"], 2)
            if "pdic-plain" in medians
            else None
        ),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
