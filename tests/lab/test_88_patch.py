"""`pdic patch` on the lab: an update made pending on purpose, patched in a health-gated wave.

Every host gets ``pdic-patch-probe`` 1 from a repository that this session serves on the lab
bridge (:mod:`pdic.lab_repo`); version 2 is there too and asks for a reboot, as a kernel or
libc update does. `pdic patch --check` lists the update on every host and changes nothing. An
update that breaks a service (an apt hook on mail-1 stops Dovecot after every dpkg run) stops
the wave at that host: the hosts patched before it are named, the hosts after it are
untouched. Then the rest of the lab (all but portal-1, kept outside, and the mail host that
holds the on-call mailbox, patched above) is patched: each host runs 2 and was rebooted, after
its health checks passed (the replica streaming, the applications answering); while the wave
runs, one maintenance window holds exactly its hosts and nginx stopped on portal-1 still pages;
no notification about a host of the wave reaches the mailbox; the change journal holds the wave
with each host's outcome.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alerts import ALERTMANAGER, ONCALL_MAILDIR, prometheus_ready, wait
from conftest import INVENTORY, PDIC, ROOT, pdic

__all__ = ["prometheus_ready"]  # the fixture, used by name

from pdic.inventory import Inventory, load_inventory
from pdic.lab import LabNet
from pdic.lab_repo import PACKAGE, build, served
from pdic.maint import http_request, windows

INV = load_inventory(INVENTORY)
HOSTS = list(INV.hosts)
PORT = 8089
SOURCE = f"/etc/apt/sources.list.d/{PACKAGE}.list"
DIRECT = f"/etc/apt/apt.conf.d/99{PACKAGE}"
BREAK = f"/etc/apt/apt.conf.d/99{PACKAGE}-break"
VERSION = f"/usr/share/{PACKAGE}/VERSION"
BROKEN = "mail-1"
OUTSIDE = "portal-1"
MAIL = INV.select("mail")[0].name


def _windows(hosts: list[str]) -> list[tuple[str, ...]]:
    """The host lists of the open maintenance windows that name any of ``hosts``."""
    found = windows(http_request(ALERTMANAGER))
    return [w.hosts for w in found if set(w.hosts) & set(hosts)]


def _mailbox(connect) -> set[str]:  # type: ignore[no-untyped-def]
    mail = connect(INV.select("mail")[0].name)
    out = mail.run("find %s/new %s/cur -type f", ONCALL_MAILDIR, ONCALL_MAILDIR)
    return {line for line in out.stdout.splitlines() if line}


def _paged(connect, before: set[str], alertname: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Notifications of ``alertname`` that reached the on-call mailbox since ``before``."""
    return {m for m in _mailbox(connect) - before if alertname in _subject(connect, m)}


def _subject(connect, path: str) -> str:  # type: ignore[no-untyped-def]
    """The Subject header of a notification (it names the alert and its grouping labels)."""
    mail = connect(INV.select("mail")[0].name)
    return str(mail.run("grep -m1 -i '^Subject:' %s", path).stdout).strip()


def _version(connect, name: str) -> str:  # type: ignore[no-untyped-def]
    return str(connect(name).check_output("cat %s", VERSION)).strip()


def _boot(connect, name: str) -> str:  # type: ignore[no-untyped-def]
    """What changes when a lab host reboots: the start time of its PID 1."""
    return str(connect(name).check_output("stat -c %%Z %s", "/proc/1"))


@pytest.fixture(scope="module")
def probe(
    connect, inventory: Inventory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Version 1 of the probe installed on every host from this session's repository, which
    also offers 2; the repository, the source and the hook are gone afterwards."""
    address = LabNet.from_inventory(inventory).gateway
    repo = tmp_path_factory.mktemp("probe-repo")
    line = build(Path(repo), address, PORT)
    with served(Path(repo), address, PORT):
        for name in HOSTS:
            host = connect(name)
            host.check_output("printf '%%s\\n' %s > %s", line, SOURCE)
            host.check_output(
                "printf 'Acquire::http::Proxy::%s \"DIRECT\";\\n' > %s", address, DIRECT
            )
            host.check_output(
                "apt-get update -qq -o Dir::Etc::sourcelist=%s -o Dir::Etc::sourceparts=- "
                "-o APT::Get::List-Cleanup=0 && DEBIAN_FRONTEND=noninteractive "
                "apt-get install -qq -y --allow-downgrades %s=1",
                SOURCE,
                PACKAGE,
            )
        yield
        for name in HOSTS:
            connect(name).run("rm -f %s %s %s", SOURCE, DIRECT, BREAK)


def _pending(stdout: str) -> dict[str, list[str]]:
    """Host -> its pending updates, from what `pdic patch` prints first."""
    found: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        match = re.match(r"^(\S+): \d+ update\(s\) pending", line)
        if match:
            current = match.group(1)
            found[current] = []
        elif current and line.startswith("    "):
            found[current].append(line.strip())
    return found


def _states(stdout: str) -> dict[str, str]:
    """Host -> its line of the report (after its name), in the wave's order."""
    head = next(i for i, line in enumerate(stdout.splitlines()) if line.startswith("pdic patch"))
    rows = {}
    for line in stdout.splitlines()[head + 1 :]:
        name, _, rest = line.strip().partition(" ")
        if name in INV.hosts:
            rows[name] = rest.strip()
    return rows


def test_check_lists_the_update_on_every_host_and_changes_nothing(connect, probe: None) -> None:  # type: ignore[no-untyped-def]
    run = pdic("patch", "--check", timeout=900)
    assert run.returncode == 0, run
    pending = _pending(run.stdout)
    assert set(pending) == set(HOSTS), run.stdout
    for name in HOSTS:
        assert f"{PACKAGE} 1 -> 2" in pending[name], (name, run.stdout)
    assert {_version(connect, n) for n in HOSTS} == {"1"}


def test_an_update_that_breaks_a_service_stops_the_wave_there(connect, probe: None) -> None:  # type: ignore[no-untyped-def]
    """mail-1's update stops Dovecot (an apt hook): IMAPS no longer answers, the wave stops at
    mail-1, the hosts before it are patched and the hosts after it untouched."""
    mail = connect(BROKEN)
    mail.check_output("printf 'DPkg::Post-Invoke {\"systemctl stop dovecot\";};\n' > %s", BREAK)
    try:
        run = pdic("patch", "--allow-outage", "--reboot", "never", "--timeout", "30", timeout=1200)
    finally:
        mail.check_output("rm -f %s && systemctl start dovecot", BREAK)
    assert run.returncode == 1, run
    assert f"FAILED at {BROKEN}" in run.stdout, run.stdout
    states = _states(run.stdout)
    order = list(states)
    broken = order.index(BROKEN)
    assert states[BROKEN].startswith("FAILED") and "993" in states[BROKEN], states
    for name in order[:broken]:
        assert states[name].startswith("patched"), states
        assert "reboot required" in states[name], states
        assert _version(connect, name) == "2"
    assert order[broken + 1 :], "mail-1 is the last host of the wave: nothing left to check"
    for name in order[broken + 1 :]:
        assert states[name] == "untouched", states
        assert _version(connect, name) == "1", name


@pytest.mark.usefixtures("prometheus_ready")
def test_the_whole_lab_is_patched_in_a_window_that_silences_exactly_its_hosts(  # type: ignore[no-untyped-def]
    connect, probe: None
) -> None:
    """The rest of the lab (all but portal-1 and the mail host) is patched and rebooted; while
    it runs, Alertmanager holds a silence for exactly those hosts, and nginx stopped by hand on
    portal-1, outside it, still pages the on-call mailbox."""
    # The mail host holds the on-call mailbox this test reads: it was patched by the wave above.
    wave = [n for n in HOSTS if n not in (OUTSIDE, MAIL)]
    booted = {n: _boot(connect, n) for n in wave}
    before_mail = _mailbox(connect)
    started = time.monotonic()
    proc = subprocess.Popen(
        [PDIC, "patch", "--allow-outage", "--limit", ",".join(wave)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outside = connect(OUTSIDE)
    try:
        windows = wait(lambda: [w for w in _windows(wave) if set(w) == set(wave)], 60, every=1)
        assert windows, "no maintenance window for the wave's hosts"
        outside.check_output("systemctl stop nginx")
        paged = wait(lambda: _paged(connect, before_mail, "PortalSiteDown"), timeout=240)
        stdout, stderr = proc.communicate(timeout=1200)
    finally:
        outside.check_output("systemctl start nginx")
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - started
    assert proc.returncode == 0, (stdout, stderr)
    assert paged, "nginx stopped outside the window paged no one"
    assert sorted(wave) in [sorted(w) for w in windows], windows
    states = _states(stdout)
    for name in wave:
        assert _version(connect, name) == "2", name
        if states[name].startswith("patched"):
            assert "rebooted: yes" in states[name], states
            assert _boot(connect, name) != booted[name], f"{name} was not rebooted"
        else:
            assert states[name] == "unchanged", states
    # No notification about a host of the wave reached the on-call mailbox while it ran.
    new = _mailbox(connect) - before_mail
    subjects = {m: _subject(connect, m) for m in new}
    about = [s for s in subjects.values() if any(re.search(rf"\b{n}\b", s) for n in wave)]
    assert not about, about
    print(f"patched {len(wave)} hosts in {took:.0f} s")
    records = [json.loads(x) for x in Path(os.environ["PDIC_JOURNAL"]).read_text().splitlines()]
    last = [r for r in records if r["command"] == "patch"][-1]
    assert set(last["outcomes"]) == set(wave), last
