"""`pdic audit --lynis`: Lynis's report read back, and its verdict in every report format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from pdic.cli import main
from pdic.compliance import lynis, runner
from pdic.compliance.checks.ssh import SSHD_MATCH_ROOT, SSHD_T
from pdic.inventory import Host, load_valid_inventory

from .fakes import REPO, FakeHost, fixture_text

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
