"""`pdic audit` on the converged, hardened lab: every host seen, evidence recorded."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from conftest import ROOT, Run, pdic

from pdic.inventory import Inventory


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
    redeployed: Run, inventory: Inventory, tmp_path: Path
) -> None:
    # Bootstrap reaches hosts as root by key from the control machine, also after hardening:
    # ssh_hardening keeps that one exception in a Match block, as the lab inventory declares
    # (ssh_hardening_root_login_from). The check sees it (sshd -T alone would not), accepts
    # exactly it and names it, with the evidence shown; no waiver is involved.
    waivers = str(ROOT / "compliance" / "waivers.lab.yml")
    run = pdic("audit", "-c", "PDIC-SSH-001", "-f", "json", "-o", str(tmp_path), "-w", waivers)
    assert run.returncode == 0, run
    results = json.loads((tmp_path / "audit.json").read_text())["results"]
    assert {r["host"]: r["outcome"] for r in results} == dict.fromkeys(inventory.hosts, "pass")
    for r in results:
        assert r["waiver"] is None, r
        commands = [e["command"] for e in r["evidence"]]
        assert any(c.endswith("sshd -T") for c in commands), r
        assert any("sshd -T -C user=root" in c for c in commands), r
        assert "Match User root Address 10.251.0.1/32" in r["message"], r
        assert "root with a key only from 10.251.0.1/32" in r["message"], r


def _failures(tmp_path: Path, name: str) -> set[tuple[str, str]]:
    out = tmp_path / name
    run = pdic(
        "audit", "-f", "json", "-o", str(out), "-w", str(ROOT / "compliance" / "waivers.lab.yml")
    )
    assert run.returncode in (0, 1), run
    results = json.loads((out / "audit.json").read_text())["results"]
    return {(r["control"], r["host"]) for r in results if r["outcome"] in ("fail", "error")}


def test_breaking_one_thing_by_hand_fails_exactly_that_control_on_that_host(
    redeployed: Run,
    connect,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # Password logins switched back on by hand on one host: the next audit fails PDIC-SSH-002
    # there and nowhere else, and nothing else changes.
    before = _failures(tmp_path, "before")
    host = connect("hcc-1")
    host.check_output("cp -p /etc/ssh/sshd_config /etc/ssh/sshd_config.pdic-test")
    try:
        host.check_output(
            "sed -i %s /etc/ssh/sshd_config",
            "s/^PasswordAuthentication no$/PasswordAuthentication yes/",
        )
        assert "passwordauthentication yes" in host.check_output("sshd -T | grep -i ^passwordauth")
        host.check_output("systemctl reload ssh")
        after = _failures(tmp_path, "after")
    finally:
        host.check_output("mv /etc/ssh/sshd_config.pdic-test /etc/ssh/sshd_config")
        host.check_output("systemctl reload ssh")
    assert after - before == {("PDIC-SSH-002", "hcc-1")}, after - before
    assert before - after == set(), before - after


def test_the_html_report_opens_in_a_headless_browser_and_shows_the_matrix(
    redeployed: Run, inventory: Inventory, tmp_path: Path
) -> None:
    # The auditors' view: Chromium runs the page's script (one language shown at a time) and
    # the control x host matrix holds a cell for every host, with the lab's waivers shown.
    sys.path.insert(0, str(ROOT / "tools"))
    import report_screenshot

    waivers = str(ROOT / "compliance" / "waivers.lab.yml")
    run = pdic("audit", "-f", "html", "-o", str(tmp_path), "-w", waivers)
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
