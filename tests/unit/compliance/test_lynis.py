"""`pdic audit --lynis`: Lynis's report read back, and its verdict in every report format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from pdic.cli import main
from pdic.compliance import lynis, runner
from pdic.compliance.catalogue import ComplianceError, load_catalogue, load_lynis_notes
from pdic.compliance.checks.ssh import SSHD_MATCH_ROOT, SSHD_T
from pdic.inventory import Host, load_valid_inventory

from .fakes import REPO, FakeHost, fixture_text, sshd_replies

CATALOGUE = REPO / "compliance"
LAB = REPO / "inventory" / "lab"
REPORT = fixture_text("lynis/lynis-report.dat")


def test_report_gives_the_index_and_the_counts() -> None:
    found = lynis.parse_report("portal-1", REPORT)
    assert found.status == "ok"
    assert (found.hardening_index, found.warnings, found.suggestions) == (58, 2, 25)
    assert found.version == "3.0.8" and found.tests_done == 247


def test_a_report_cut_short_is_an_error() -> None:
    cut = REPORT.split("hardening_index=")[0]
    found = lynis.parse_report("portal-1", cut)
    assert found.status == "error" and "no hardening_index" in found.note


def _host(with_lynis: bool, report: str = REPORT) -> FakeHost:
    replies: dict[str, object] = {
        "systemd-detect-virt --container": (0, "systemd-nspawn\n"),
        SSHD_T: fixture_text("sshd-T/pdic-ssh-hardening.txt"),
        SSHD_MATCH_ROOT: (1, ""),
        lynis.FIND_LYNIS: (0, "/usr/sbin/lynis\n") if with_lynis else (1, ""),
    }
    if with_lynis:
        replies[lynis.RUN_LYNIS] = (0, report)
    return FakeHost(replies)


def test_run_on_a_host_without_lynis_is_a_note_not_a_crash() -> None:
    found = lynis.run_lynis("db-1", _host(False))
    assert found.status == "not_installed" and found.note == "lynis not installed"


def test_run_reads_the_report_in_one_command() -> None:
    host = _host(True)
    found = lynis.run_lynis("db-1", host)
    assert found.hardening_index == 58
    assert host.commands == [lynis.FIND_LYNIS, lynis.RUN_LYNIS]
    assert "--quick --no-colors --report-file" in lynis.RUN_LYNIS


def _connect(hosts: dict[str, bool]) -> Any:
    def connect(host: Host) -> FakeHost:
        if host.name not in hosts:
            raise ConnectionRefusedError(f"{host.address}:22")
        return _host(hosts[host.name])

    return connect


@pytest.fixture
def run() -> runner.AuditRun:
    return runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=CATALOGUE,
        limit="portal-1,db-1,mail-1",
        controls=["PDIC-SSH-002"],
        connect=_connect({"portal-1": True, "db-1": False}),
        lynis=True,
    )


def test_audit_keeps_lynis_per_host(run: runner.AuditRun) -> None:
    assert {h: r.status for h, r in run.lynis.items()} == {
        "portal-1": "ok",
        "db-1": "not_installed",
        "mail-1": "error",
    }
    assert "host unreachable" in run.lynis["mail-1"].note
    assert {r.host: r.status for r in run.results}["portal-1"] == "pass"


def test_every_format_carries_the_comparison(run: runner.AuditRun, tmp_path: Path) -> None:
    runner.write_reports(run, tmp_path, list(runner.FORMATS), "lab")
    document = json.loads((tmp_path / "audit.json").read_text())
    assert document["lynis"]["portal-1"]["hardening_index"] == 58
    assert document["lynis"]["portal-1"]["pdic_score"] == 1.0
    assert document["lynis"]["db-1"]["note"] == "lynis not installed"

    suites = {s.get("name"): s for s in ET.parse(tmp_path / "audit.xml").getroot()}
    props = {p.get("name"): p.get("value") for p in suites["portal-1"].iter("property")}
    assert props["lynis_hardening_index"] == "58" and props["lynis_warnings"] == "2"
    db = {p.get("name"): p.get("value") for p in suites["db-1"].iter("property")}
    assert db["lynis_note"] == "lynis not installed"

    prom = (tmp_path / "audit.prom").read_text()
    assert 'pdic_lynis_hardening_index{host="portal-1"} 58.0' in prom
    assert 'pdic_lynis_suggestions{host="portal-1"} 25.0' in prom
    assert 'host="db-1"' not in prom.split("pdic_lynis_hardening_index", 1)[1]

    html = (tmp_path / "audit.html").read_text()
    assert 'data-host="portal-1" data-lynis-status="ok"' in html
    assert "lynis not installed" in html and "chưa cài đặt lynis" in html


def test_without_lynis_no_report_mentions_it(tmp_path: Path) -> None:
    plain = runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=CATALOGUE,
        limit="portal-1",
        controls=["PDIC-SSH-002"],
        connect=_connect({"portal-1": False}),
    )
    assert plain.lynis == {}
    runner.write_reports(plain, tmp_path, list(runner.FORMATS), "lab")
    for name in ("audit.json", "audit.xml", "audit.prom"):
        assert "lynis" not in (tmp_path / name).read_text()


def test_cli_prints_lynis_per_host(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(runner, "testinfra_host", _connect({"portal-1": True, "db-1": False}))
    argv = ["audit", "-i", str(LAB), "-l", "portal-1,db-1", "-c", "PDIC-SSH-002", "--lynis"]
    assert main([*argv, "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "portal-1 lynis hardening_index=58 warnings=2 suggestions=25" in out
    assert "db-1 lynis: lynis not installed" in out


# Points left, with their reasons (compliance/lynis.yml)

DEPLOYED = fixture_text("lynis/lab-host-deployed.report.dat")
NOTES = load_lynis_notes(CATALOGUE / "lynis.yml", load_catalogue(CATALOGUE))


def test_every_warning_and_suggestion_is_kept_as_lynis_wrote_it() -> None:
    found = lynis.parse_report("hcc-1", DEPLOYED)
    assert len(found.findings) == found.warnings + found.suggestions == 20
    assert found.findings[2] == lynis.Finding(
        "suggestion",
        "BOOT-5264",
        "Consider hardening system services",
        "Run '/usr/bin/systemd-analyze security SERVICE' for each service",
        "",
    )
    krnl = next(f for f in found.findings if f.test == "KRNL-6000")
    assert krnl.details == "" and krnl.solution.startswith("Change sysctl value")


def test_a_recorded_report_is_read_whole() -> None:
    found = lynis.parse_report("vm", fixture_text("lynis/debian12-machine.report.dat"))
    assert (found.hardening_index, found.warnings, found.suggestions) == (59, 2, 43)
    assert found.findings[0].test == "LYNIS"
    assert {f.test for f in found.findings if f.kind == "warning"} == {"PKGS-7392", "FINT-4315"}


STATES = {
    "PDIC-SSH-016": lynis.ControlState("PDIC-SSH-016", "pass"),
    "PDIC-LOG-005": lynis.ControlState("PDIC-LOG-005", "waived", "Lab only: no NTP server"),
    "PDIC-LOG-006": lynis.ControlState("PDIC-LOG-006", "not_applicable"),
}


def _reasons(container: str | None) -> dict[tuple[str, str], lynis.Remaining]:
    found = replace(lynis.parse_report("hcc-1", DEPLOYED), container=container)
    explained = lynis.explain(found, NOTES, STATES)
    assert [r.finding for r in explained.remaining] == list(found.findings)
    return {(r.finding.test, r.finding.details): r for r in explained.remaining}


def test_in_a_container_the_machines_tests_are_out_of_reach_with_their_reason() -> None:
    points = _reasons("systemd-nspawn")
    kernel = points["KRNL-5788", "/vmlinuz or /boot/vmlinuz"]
    assert kernel.reason == "out_of_reach"
    assert kernel.why.en.startswith("out of reach in a container: a container has no kernel")
    assert kernel.why.vi.startswith("không thể đạt trong container: container không có nhân")
    for test in ("KRNL-6000", "FILE-6310", "ACCT-9622", "ACCT-9628"):
        assert {r.reason for (t, _), r in points.items() if t == test} == {"out_of_reach"}, test
    # auditd's own control is listed beside the reason: not applicable in a container.
    assert points["ACCT-9628", ""].controls == (STATES["PDIC-LOG-006"],)


def test_a_point_a_pdic_control_checks_shows_its_result_and_waiver() -> None:
    points = _reasons("systemd-nspawn")
    sessions = points["SSH-7408", "MaxSessions (set 4 to 2)"]
    assert sessions.reason == "pdic_control"
    assert sessions.why.en == "checked by pdic: PDIC-SSH-016 pass"
    assert sessions.why.vi == "pdic kiểm tra: PDIC-SSH-016 đạt"
    clock = points["TIME-3106", ""]
    assert clock.why.en == "checked by pdic: PDIC-LOG-005 waived (Lab only: no NTP server)"
    services = points[
        "BOOT-5264", "Run '/usr/bin/systemd-analyze security SERVICE' for each service"
    ]
    assert services.why.en == "checked by pdic: PDIC-SVC-010 not checked here"
    assert services.why.vi == "pdic kiểm tra: PDIC-SVC-010 không kiểm tra ở máy này"
    assert services.controls == (lynis.ControlState("PDIC-SVC-010", "not_checked"),)


def test_any_other_point_keeps_lynis_own_text() -> None:
    points = _reasons("systemd-nspawn")
    port = points["SSH-7408", "Port (set 22 to )"]
    assert (port.reason, port.why.en) == (
        "lynis",
        "Consider hardening SSH configuration (Port (set 22 to ))",
    )
    usb = points["USB-1000", ""]
    assert usb.reason == "lynis" and usb.why.en.startswith("Disable drivers like USB storage")
    assert usb.why.vi == f"Lynis: {usb.why.en}"


def test_on_a_machine_nothing_is_out_of_reach() -> None:
    points = _reasons(None)
    assert points["FILE-6310", ""].reason == "lynis"
    assert points["KRNL-6000", ""].reason == "pdic_control"  # the network sysctls' controls
    assert "out_of_reach" not in {r.reason for r in points.values()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "out_of_reach:\n  - {ids: [KRNL-60], reason: {vi: a, en: b}}\n",
            "lynis.yml: out_of_reach[0].ids[0]: 'KRNL-60' is not a Lynis test id",
        ),
        (
            "out_of_reach:\n  - {ids: [KRNL-6000], reason: {vi: a, en: b}}\n"
            "  - {ids: [KRNL-6000], reason: {vi: a, en: b}}\n",
            "lynis.yml: out_of_reach[1].ids[0]: KRNL-6000 is listed twice",
        ),
        (
            "out_of_reach:\n  - {ids: [KRNL-6000], reason: {vi: a}}\n",
            "lynis.yml: out_of_reach[0].reason: missing en text",
        ),
        (
            "checked_by:\n  - {id: SSH-7408, controls: [PDIC-SSH-999]}\n",
            "lynis.yml: checked_by[0].controls[0]: unknown control id 'PDIC-SSH-999'",
        ),
        (
            "checked_by:\n  - {id: SSH7408, controls: [PDIC-SSH-016]}\n",
            "lynis.yml: checked_by[0].id: 'SSH7408' is not a Lynis test id",
        ),
        ("waivers: []\n", "lynis.yml: waivers: unknown key"),
    ],
)
def test_a_bad_notes_file_is_refused_line_by_line(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "lynis.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ComplianceError) as raised:
        load_lynis_notes(path, load_catalogue(CATALOGUE))
    assert any(line.startswith(message) for line in raised.value.problems), raised.value.problems


def _deployed_host(host: Host) -> FakeHost:
    return FakeHost(
        {
            "systemd-detect-virt --container": (0, "systemd-nspawn\n"),
            **sshd_replies(fixture_text("sshd-T/pdic-ssh-hardening.txt")),
            "timedatectl show -p NTPSynchronized --value": (0, "no\n"),
            lynis.FIND_LYNIS: (0, "/usr/sbin/lynis\n"),
            lynis.RUN_LYNIS: (0, DEPLOYED),
        }
    )


@pytest.fixture
def deployed() -> runner.AuditRun:
    return runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=CATALOGUE,
        limit="hcc-1",
        controls=["PDIC-SSH-016", "PDIC-LOG-005"],
        waivers_file=CATALOGUE / "waivers.lab.yml",
        connect=_deployed_host,
        lynis=True,
    )


def test_the_audit_gives_every_point_left_its_reason(deployed: runner.AuditRun) -> None:
    found = deployed.lynis["hcc-1"]
    assert found.container == "systemd-nspawn"
    assert len(found.remaining) == found.warnings + found.suggestions
    reasons = {(r.finding.test, r.finding.details): r for r in found.remaining}
    assert reasons["SSH-7408", "MaxSessions (set 4 to 2)"].why.en == (
        "checked by pdic: PDIC-SSH-016 pass"
    )
    clock = reasons["TIME-3106", ""]
    assert clock.controls[0].outcome == "waived" and clock.controls[0].waiver.startswith("Lab")
    assert reasons["FILE-6310", ""].reason == "out_of_reach"


def test_every_format_lists_the_points_left(deployed: runner.AuditRun, tmp_path: Path) -> None:
    runner.write_reports(deployed, tmp_path, list(runner.FORMATS), "lab")
    row = json.loads((tmp_path / "audit.json").read_text())["lynis"]["hcc-1"]
    assert row["container"] == "systemd-nspawn" and len(row["remaining"]) == 20
    kernel = next(p for p in row["remaining"] if p["test"] == "KRNL-5788")
    assert kernel["reason"] == "out_of_reach" and kernel["details"] == "/vmlinuz or /boot/vmlinuz"
    assert kernel["why"]["en"].startswith("out of reach in a container: ")
    assert kernel["why"]["vi"].startswith("không thể đạt trong container: ")

    suite = ET.parse(tmp_path / "audit.xml").getroot()[0]
    left = [p.get("value") for p in suite.iter("property") if p.get("name") == "lynis_remaining"]
    assert len(left) == 20
    assert "SSH-7408 suggestion: checked by pdic: PDIC-SSH-016 pass" in left

    html = (tmp_path / "audit.html").read_text()
    assert html.count('<table class="lynis-remaining" data-host="hcc-1">') == 2  # vi and en
    assert '<tr data-test="KRNL-5788" data-reason="out_of_reach">' in html
    assert "Các điểm Lynis còn lại và lý do" in html and "Lynis points left, and why" in html
    assert "không thể đạt trong container: container không có nhân" in html
    assert "out of reach in a container: a container has no kernel" in html


def test_cli_lists_the_points_left_under_each_host(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(runner, "testinfra_host", _deployed_host)
    argv = ["audit", "-i", str(LAB), "-l", "hcc-1", "-c", "PDIC-SSH-016", "--lynis"]
    assert main([*argv, "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hcc-1 lynis hardening_index=81 warnings=0 suggestions=20" in out
    assert "\n  FILE-6310 suggestion: out of reach in a container: a container's file" in out
    assert "\n  USB-1000 suggestion: Disable drivers like USB storage" in out
