"""Benchmark: onboarding an agency on the converged lab, against the no-change deploy it replaces.

One round, as an operator runs it on inventory/lab (timed from the first command to the last
check):

- ``pdic agency add FILE``: a new department with a component site, a mail domain on mail-1
  and ``--mailboxes`` mailboxes (20 by default);
- ``pdic agency apply ID``: site.yml on the hosts and tags the agency concerns, then its live
  show;
- until both hold: the site answers over HTTPS from portal-1 with a certificate verified
  against the centre's root alone (read from ca-1), and a message sent on port 25 from mon-1
  to one of the new mailboxes is in its Maildir on mail-1.

That is ``onboard`` (the issue asks under 60 s); ``add``, ``apply`` and ``answered`` (after the
apply, until both checks pass) are its parts. Then ``pdic agency retire ID --yes`` (timed as
``retire``; the inventory must be back byte for byte). Each round uses a new agency (ids
``bench-onboard-N``), so every one makes its DKIM key and certificate afresh. After the
rounds, ``pdic deploy`` with nothing to change (``deploy_nochange``: what an operator ran
before ``apply`` existed), the same number of times. Medians of ``-n`` rounds (default 3) go to
bench/results/agency_onboard.json.

Needs a converged lab (`./scripts/demo`) and root (the lab's key and vault password); not run
by the tests. inventory/lab is snapshotted first and written back at the end whatever happens
(and the hosts concerned converged to it if it had to be). The retired agencies' archived
mailboxes are deleted from mail-1 at the end; their DKIM keys (under /etc/dkimkeys) and revoked
site certificates (portal-1's /etc/pdic/pki/site-benchN.*) stay, as they do after any retirement.
Usage: `.venv/bin/python bench/agency_onboard.py [-n 3] [--mailboxes 20]`.
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
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "agency_onboard.json"
INVENTORY = ROOT / "inventory" / "lab"
TARGET_SECONDS = 60
PREFIX = "bench-onboard"
# Run on mon-1 (postscreen lets the monitoring hosts through): one message on port 25.
DELIVER = r"""
import email.message, smtplib, sys
host, rcpt, subject = sys.argv[1:4]
msg = email.message.EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "bench@example.org", rcpt, subject
msg.set_content("pdic agency onboarding benchmark.\n")
with smtplib.SMTP(host, 25, timeout=30) as client:
    client.send_message(msg)
"""


def pdic(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN / "pdic"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SystemExit(f"pdic {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr}")
    return proc


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = pdic(*args)
    return time.perf_counter() - start, proc


def changed(output: str) -> int:
    return sum(
        int(part.split("=", 1)[1])
        for line in output.splitlines()
        for part in line.split()
        if part.startswith("changed=")
    )


def snapshot() -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in INVENTORY.rglob("*") if p.is_file()}


def spec(n: int, mailboxes: int, domain: str) -> str:
    return (
        f"id: {PREFIX}-{n}\n"
        f'name: "Sở Đo lường {n}"\n'
        "tier: province\n"
        "parent: ubnd-tinh\n"
        "mail:\n"
        f"  domain: bench{n}.{domain}\n"
        "  host: mail-1\n"
        f"  mailboxes: {mailboxes}\n"
        "site:\n"
        f"  name: bench{n}\n"
        f"  hostname: bench{n}.{domain}\n"
    )


class Lab:
    """The checks of a round, over pdic's own connections to the lab."""

    def __init__(self) -> None:
        import pdic.agency.live as live
        from pdic.connect import testinfra_host
        from pdic.inventory import load_inventory

        self.inventory = load_inventory(INVENTORY)
        self.domain = str(self.inventory.vars["pdic_domain"])
        self.connect = testinfra_host
        self.https_get = live.https_get
        root, why = live.root_certificate(self.inventory, testinfra_host)
        if not root:
            raise SystemExit(f"the centre's root: {why}")
        self.root = root
        self.portal = self.inventory.select("portal")[0]
        self.mail = testinfra_host(self.inventory.host("mail-1"))
        self.mon = testinfra_host(self.inventory.host("mon-1"), sudo=False)

    def site_answers(self, hostname: str) -> bool:
        try:
            answer = self.https_get(self.portal.address, 443, hostname, self.root, 5)
        except Exception:  # not yet: refused, not verified, not answering
            return False
        return bool(answer.status == 200)

    def send(self, address: str, subject: str) -> None:
        self.mon.check_output(
            "python3 -c %s %s %s %s", DELIVER, f"mail-1.{self.domain}", address, subject
        )

    def delivered(self, address: str, subject: str) -> bool:
        local, domain = address.split("@")
        found = self.mail.run(
            "grep -l -r -F -- %s /var/vmail/%s/%s/Maildir 2>/dev/null", subject, domain, local
        )
        return bool(found.stdout.strip())

    def forget(self, domains: list[str]) -> None:
        """The archived mailboxes of the rounds' domains, deleted (they were test mail)."""
        for domain in domains:
            self.mail.run("rm -rf -- /var/vmail-archive/%s", domain)


def wait_until(check: Any, timeout: float = 300, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:.0f} s: {check.__doc__ or check}")
        time.sleep(every)


def one_round(lab: Lab, n: int, mailboxes: int, work: Path) -> dict[str, float]:
    agency = f"{PREFIX}-{n}"
    path = work / f"{agency}.yml"
    path.write_text(spec(n, mailboxes, lab.domain), encoding="utf-8")
    hostname = f"bench{n}.{lab.domain}"
    address = f"hopthu{mailboxes}@bench{n}.{lab.domain}"
    subject = f"pdic-bench-{uuid.uuid4().hex[:12]}"
    start = time.perf_counter()
    add_s, _ = timed("agency", "add", str(path))
    apply_s, _ = timed("agency", "apply", agency)
    applied = time.perf_counter()
    wait_until(lambda: lab.site_answers(hostname))
    lab.send(address, subject)
    wait_until(lambda: lab.delivered(address, subject))
    done = time.perf_counter()
    retire_s, _ = timed("agency", "retire", agency, "--yes")
    return {
        "onboard": done - start,
        "add": add_s,
        "apply": apply_s,
        "answered": done - applied,
        "retire": retire_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repetitions", type=int, default=3)
    parser.add_argument("--mailboxes", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the lab's SSH key and vault password are root's")
    before = snapshot()
    keys = ("onboard", "add", "apply", "answered", "retire")
    times: dict[str, list[float]] = {k: [] for k in (*keys, "deploy_nochange")}
    lab = Lab()
    domains = [f"bench{n}.{lab.domain}" for n in range(1, args.repetitions + 1)]
    # Warm-up: the lab converged, the fact cache and the control sockets filled.
    warm = pdic("deploy")
    if changed(warm.stdout):
        print(f"warm-up deploy changed {changed(warm.stdout)} tasks: the lab was not converged")
    try:
        with tempfile.TemporaryDirectory(prefix="pdic-bench-agency-") as tmp:
            for n in range(1, args.repetitions + 1):
                found = one_round(lab, n, args.mailboxes, Path(tmp))
                for key in keys:
                    times[key].append(round(found[key], 2))
                if snapshot() != before:
                    raise SystemExit(f"round {n}: the inventory is not back as it was")
                print(f"round {n}: " + ", ".join(f"{k} {found[k]:.1f} s" for k in keys), flush=True)
        for n in range(1, args.repetitions + 1):
            elapsed, proc = timed("deploy")
            if changed(proc.stdout):
                raise SystemExit(f"a no-change deploy changed {changed(proc.stdout)} tasks")
            times["deploy_nochange"].append(round(elapsed, 2))
            print(f"no-change deploy {n}: {elapsed:.1f} s", flush=True)
    finally:
        if snapshot() != before:
            for path, data in before.items():
                path.write_bytes(data)
            pdic(
                "deploy",
                "--limit",
                "portal-1,mail-1,mon-1",
                "--tags",
                "etc_hosts,web,monitoring,mail,aide",
            )
        lab.forget(domains)
    medians = {k: round(statistics.median(v), 2) for k, v in times.items() if v}
    result = {
        "benchmark": (
            "agency onboarding on inventory/lab: pdic agency add -> apply -> site answering "
            "with a verified certificate and a message delivered to a new mailbox; and the "
            "no-change pdic deploy (playbooks/site.yml) it replaces"
        ),
        "mailboxes": args.mailboxes,
        "repetitions": args.repetitions,
        "seconds": times,
        "median_seconds": medians,
        "target_seconds": TARGET_SECONDS,
        "onboard_under_target": medians["onboard"] < TARGET_SECONDS,
        "ratio_deploy_nochange_over_onboard": round(
            medians["deploy_nochange"] / medians["onboard"], 2
        ),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
