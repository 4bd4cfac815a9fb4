"""`pdic audit` of the lab: a known set of controls fails before the first deploy and passes
after it, Lynis's hardening index reaches LYNIS_BAR on every deployed host and every Lynis
point left is listed with its reason, every host is seen, evidence is recorded, and a change
made by hand fails exactly its control on exactly its host.

The unhardened lab is audited once by the session (conftest `unhardened`, before the first
deploy) and the deployed lab once (`hardened_audit`); tests share those two audits.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from audit_json import (
    below,
    changes,
    lynis_before_after,
    not_failing,
    not_passing,
    outcomes,
    results,
    unexplained_lynis_points,
)
from conftest import LAB_WAIVERS, LYNIS_REPORT, ROOT, Run, lab_audit, pdic

from pdic.compliance.catalogue import LYNIS_NOTES, load_catalogue, load_lynis_notes
from pdic.inventory import Inventory

# What a lab host fails as `pdic bootstrap` leaves it: Debian 12 (debootstrap minbase with
# systemd, openssh-server, iproute2, sudo) plus bootstrap's python3, sudo, chrony, the apt proxy
# and the operations account. Only controls whose check fails on every stock host whatever the
# machine running the lab; each is enforced by a role, so it passes after `pdic deploy`.
UNHARDENED_FAILURES = {
    "PDIC-ACC-001": "no pam_pwquality in common-password (libpam-pwquality not installed)",
    "PDIC-ACC-002": "no pam_pwquality in common-password: no character classes required",
    "PDIC-ACC-003": "no pam_pwhistory in Debian's common-password",
    "PDIC-ACC-004": "login.defs: PASS_MAX_DAYS 99999",
    "PDIC-ACC-005": "login.defs: PASS_MIN_DAYS 0",
    "PDIC-ACC-007": "no pam_faillock in Debian's common-auth",
    "PDIC-ACC-008": "useradd -D: INACTIVE=-1 (never disabled)",
    "PDIC-ACC-011": "Debian's sudoers has no Defaults logfile",
    "PDIC-ACC-013": "TMOUT set nowhere in /etc/profile, profile.d or bash.bashrc",
    "PDIC-ACC-015": "Debian's /etc/issue and /etc/issue.net name the system and warn of nothing",
    "PDIC-ACC-016": "login.defs: UMASK 022",
    "PDIC-ACC-017": "login.defs: SHA_CRYPT_MIN_ROUNDS and SHA_CRYPT_MAX_ROUNDS commented out",
    "PDIC-ACC-018": "no libpam-tmpdir: no pam_tmpdir in common-session",
    "PDIC-FILE-011": "no '* hard core 0' in limits.d, systemd-coredump settings unset",
    "PDIC-FILE-013": "aide not installed (not in minbase): no baseline database",
    "PDIC-FILE-014": "no pdic-aide-check.timer and no AIDE result for node_exporter",
    "PDIC-LOG-002": "journald.conf: MaxRetentionSec unset (commented out)",
    "PDIC-LOG-004": "no rsyslog (not in minbase) and no systemd-journal-upload",
    "PDIC-LOG-010": "mon-1: no /var/log/remote (nothing collects logs yet)",
    "PDIC-LOG-011": "mon-1: no /var/log/remote (the change journal reaches no log host yet)",
    "PDIC-LOG-013": "sysstat not installed (not in minbase)",
    "PDIC-NET-001": "no nftables (not in minbase): nothing drops inbound traffic",
    "PDIC-SSH-001": "Debian's sshd: PermitRootLogin prohibit-password (its default)",
    "PDIC-SSH-002": "Debian's sshd: PasswordAuthentication yes (its default)",
    "PDIC-SSH-005": "Debian's sshd offers umac-64 and hmac-sha1 MACs",
    "PDIC-SSH-007": "Debian's sshd: ClientAliveInterval 0 (no idle timeout)",
    "PDIC-SSH-008": "Debian's sshd: MaxAuthTries 6",
    "PDIC-SSH-009": "Debian's sshd: LoginGraceTime 120",
    "PDIC-SSH-013": "Debian's sshd: no AllowGroups or AllowUsers",
    "PDIC-SSH-014": "Debian's /etc/ssh/sshd_config is mode 0644",
    "PDIC-SSH-015": "Debian's sshd: Banner none",
    "PDIC-SSH-016": "Debian's sshd: MaxSessions 10",
    "PDIC-SSH-017": "Debian's sshd: Compression yes (its default)",
    "PDIC-SSH-018": "Debian's sshd: TCPKeepAlive yes (its default)",
    "PDIC-SSH-019": "Debian's sshd_config: X11Forwarding yes",
    "PDIC-SSH-020": "Debian's sshd: AllowAgentForwarding yes (its default)",
    "PDIC-SSH-021": "no pam_oath, no users file, no labadmin: a key alone would do (none yet)",
    "PDIC-SSH-022": "Debian's sshd: pdicops with any method, from any address",
    "PDIC-SVC-011": "clamav-daemon not installed (not in minbase): no clamd, no check result",
    "PDIC-SVC-012": "no Postfix and no rspamd yet: nothing scans mail for malware",
    "PDIC-SVC-013": "no pdic-clamav-scan.timer and no scan result for node_exporter",
    "PDIC-UPD-001": "unattended-upgrades not installed (not in minbase)",
    "PDIC-UPD-002": "no Unattended-Upgrade origins configured",
    "PDIC-UPD-005": "no update-success-stamp (apt writes none without a hook)",
    "PDIC-UPD-007": "needrestart not installed (not in minbase)",
    "PDIC-UPD-008": "apt-listchanges, debsums and apt-show-versions not installed",
}


CATALOGUE = load_catalogue(ROOT / "compliance")
CONTROLS = CATALOGUE.controls
LYNIS_BAR = 82
"""The Lynis hardening index every deployed lab host reaches, container limits included. The
goal is 85; the lab's hosts reach 82 (ca-1, whose CRLs are served over plain HTTP) or 83 today,
and every point left is listed with its reason by the next test."""


def _applicable(inventory: Inventory, control: str) -> list[tuple[str, str]]:
    """(control, host) for every lab host the control applies to."""
    found = CONTROLS[control]
    return [(control, h.name) for h in inventory.hosts.values() if found.applies_to(h.groups)]


@pytest.mark.parametrize("control", sorted(UNHARDENED_FAILURES))
def test_the_unhardened_lab_fails_the_known_controls(
    unhardened_audit: dict[str, Any], inventory: Inventory, control: str
) -> None:
    expected = _applicable(inventory, control)
    assert expected, f"{control} applies to no lab host"
    assert not_failing(unhardened_audit, expected) == [], UNHARDENED_FAILURES[control]


@pytest.mark.parametrize("control", sorted(UNHARDENED_FAILURES))
def test_after_the_deploy_the_known_controls_pass_or_are_waived(
    hardened_audit: dict[str, Any], inventory: Inventory, control: str
) -> None:
    assert not_passing(hardened_audit, _applicable(inventory, control)) == []


def test_lynis_hardening_index_reaches_the_bar_on_every_host(
    unhardened: dict[str, Any] | None,
    hardened_audit: dict[str, Any],
    inventory: Inventory,
    request: pytest.FixtureRequest,
) -> None:
    # The numbers first, whatever the verdict: printed, saved under reports/ and shown at the
    # end of the session (conftest's terminal summary), so the CI log has them. Before the
    # deploy is there only on a fresh lab (a reused one was not audited unhardened).
    report = lynis_before_after(unhardened, hardened_audit)
    request.config.stash[LYNIS_REPORT] = report
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "lynis-before-after.json").write_text(text + "\n", encoding="utf-8")
    assert set(report["hosts"]) == set(inventory.hosts), report
    assert below(report, LYNIS_BAR) == {}, "points left:\n" + "\n".join(
        f"{host}: {point}"
        for host, row in report["hosts"].items()
        for point in row["lynis_left_after"]
    )


def test_every_lynis_point_left_is_listed_with_its_reason(
    hardened_audit: dict[str, Any], inventory: Inventory
) -> None:
    # Beside each host's index the report lists every warning and suggestion Lynis left, each
    # with its reason in Vietnamese and English: out of reach in a container (every lab host
    # is one; compliance/lynis.yml names the tests and why), the result of the pdic control
    # that checks the same thing (a waiver included), or Lynis's own text.
    notes = load_lynis_notes(ROOT / "compliance" / LYNIS_NOTES, CATALOGUE)
    rows = hardened_audit["lynis"]
    assert set(rows) == set(inventory.hosts)
    assert {h: r["container"] for h, r in rows.items()} == dict.fromkeys(
        inventory.hosts, "systemd-nspawn"
    )
    assert unexplained_lynis_points(hardened_audit, notes.out_of_reach) == []
    for row in rows.values():
        for point in row["remaining"]:
            if point["reason"] == "out_of_reach":
                assert point["why"]["en"].startswith("out of reach in a container: "), point
                assert point["why"]["vi"].startswith("không thể đạt trong container: "), point
            elif point["reason"] == "pdic_control":
                assert point["why"]["en"].startswith("checked by pdic: "), point
                assert point["controls"], point


def test_audit_reaches_every_host_within_a_minute(
    redeployed: Run, inventory: Inventory, tmp_path: Path
) -> None:
    start = time.monotonic()
    run = pdic("audit", "-o", str(tmp_path), "--fail-on", "critical")
    elapsed = time.monotonic() - start
    assert run.returncode in (0, 1), run
    assert elapsed < 60, f"audit of the lab took {elapsed:.0f} s"
    document = json.loads((tmp_path / "audit.json").read_text())
    results = document["results"]
    assert {r["host"] for r in results} == set(inventory.hosts)
    unreachable = [r for r in results if "host unreachable" in r["message"]]
    assert unreachable == []
    for name in ("audit.html", "audit.xml", "audit.prom"):
        assert (tmp_path / name).stat().st_size > 0


def test_root_ssh_login_exception_is_reported_and_passes(
    hardened_audit: dict[str, Any], inventory: Inventory
) -> None:
    # Bootstrap reaches hosts as root by key from the control machine, also after hardening:
    # ssh_hardening keeps that one exception in a Match block, as the lab inventory declares
    # (ssh_hardening_root_login_from). The check sees it (sshd -T alone would not), accepts
    # exactly it and names it, with the evidence shown; no waiver is involved.
    found = {r["host"]: r for r in hardened_audit["results"] if r["control"] == "PDIC-SSH-001"}
    assert {h: r["outcome"] for h, r in found.items()} == dict.fromkeys(inventory.hosts, "pass")
    for r in found.values():
        assert r["waiver"] is None, r
        commands = [e["command"] for e in r["evidence"]]
        assert any(c.endswith("sshd -T") for c in commands), r
        assert any("sshd -T -C user=root" in c for c in commands), r
        assert "Match User root Address 10.251.0.1/32" in r["message"], r
        assert "root with a key only from 10.251.0.1/32" in r["message"], r


def test_root_login_enabled_by_hand_fails_exactly_that_control_on_that_host(
    hardened_audit: dict[str, Any],
    connect,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    # Root login switched on for everyone by hand on one host (the global PermitRootLogin, not
    # the control machine's Match block): the next audit fails PDIC-SSH-001 there and nowhere
    # else, and nothing else changes. The session's audit of the deployed lab is the "before".
    assert outcomes(hardened_audit)["PDIC-SSH-001", "hcc-1"] == "pass"
    host = connect("hcc-1")
    host.check_output("cp -p /etc/ssh/sshd_config /etc/ssh/sshd_config.pdic-test")
    try:
        host.check_output(
            "sed -i %s /etc/ssh/sshd_config", "s/^PermitRootLogin no$/PermitRootLogin yes/"
        )
        effective = host.check_output(
            "/usr/sbin/sshd -T -C %s | grep -i ^permitrootlogin",
            "user=root,host=x,addr=10.251.0.99",
        )
        assert effective == "permitrootlogin yes"
        host.check_output("systemctl reload ssh")
        after = lab_audit(tmp_path)
    finally:
        host.check_output("mv /etc/ssh/sshd_config.pdic-test /etc/ssh/sshd_config")
        host.check_output("systemctl reload ssh")
    assert changes(hardened_audit, after) == {("PDIC-SSH-001", "hcc-1"): ("pass", "fail")}
    assert results(after)["PDIC-SSH-001", "hcc-1"]["message"] == (
        "permitrootlogin is 'yes', must be 'no'"
    )


def test_the_html_report_opens_in_a_headless_browser_and_shows_the_matrix(
    redeployed: Run, inventory: Inventory, tmp_path: Path
) -> None:
    # The auditors' view: Chromium runs the page's script (one language shown at a time) and
    # the control x host matrix holds a cell for every host, with the lab's waivers shown.
    sys.path.insert(0, str(ROOT / "tools"))
    import report_screenshot

    run = pdic("audit", "-f", "html", "-o", str(tmp_path), "-w", str(LAB_WAIVERS))
    assert run.returncode in (0, 1), run
    dom = report_screenshot.rendered_dom(tmp_path / "audit.html", "en")
    sections = re.findall(r'<section class="report"[^>]*>', dom)
    assert len(sections) == 2 and sum("hidden" in s for s in sections) == 1, sections
    assert re.search(r'<section class="report" lang="en"(?![^>]*hidden)', dom), sections
    for host in inventory.hosts:
        assert f'data-host="{host}" data-outcome="pass"' in dom, host
    assert 'data-control="PDIC-SSH-001" data-host="hcc-1" data-outcome="pass"' in dom
    # The lab's waivers are listed, whether or not a result on this machine needs one.
    assert re.search(r'<table class="waivers">.*?<td>PDIC-LOG-005</td>', dom, re.S), "waivers"
    png = tmp_path / "audit.png"
    report_screenshot.screenshot(tmp_path / "audit.html", png, 1400, 1200, "en")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
