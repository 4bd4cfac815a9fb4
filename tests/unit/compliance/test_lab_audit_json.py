"""tests/lab/audit_json.py, the lab tests' reader of `pdic audit -f json`, on reports that pdic's
own writer made from recorded `sshd -T` outputs and a recorded Lynis report."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pdic.compliance import lynis, report, runner
from pdic.inventory import Host, load_valid_inventory

from .fakes import REPO, FakeHost, fixture_text, sshd_replies


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_json", REPO / "tests/lab/audit_json.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit_json = _load()
LAB = REPO / "inventory" / "lab"
LYNIS_REPORT = fixture_text("lynis/lynis-report.dat")  # hardening_index=58
LAB_MATCH = (
    "PermitRootLogin no\n"
    "Match User root Address 10.251.0.1/32\n"
    "    PermitRootLogin prohibit-password\n"
)


def _audit(tmp_path: Path, sshd: dict[str, str], index: dict[str, int | None]) -> dict[str, Any]:
    """The JSON document of an audit of PDIC-SSH-001/002 with Lynis, on fake lab hosts whose
    `sshd -T` is the named fixture; PDIC-SSH-002 is waived on hcc-1."""

    def connect(host: Host) -> FakeHost:
        text = fixture_text(f"sshd-T/{sshd[host.name]}")
        replies: dict[str, object] = {
            "systemd-detect-virt --container": (0, "systemd-nspawn\n"),
            **sshd_replies(text, LAB_MATCH),
            lynis.FIND_LYNIS: (0, "/usr/sbin/lynis\n") if index[host.name] else (1, ""),
        }
        found = index[host.name]
        if found:
            replies[lynis.RUN_LYNIS] = (0, LYNIS_REPORT.replace("=58\n", f"={found}\n"))
        return FakeHost(replies)

    waivers = tmp_path / "waivers.yml"
    waivers.write_text(
        "waivers:\n  - {control: PDIC-SSH-002, hosts: [hcc-1], justification: migration,"
        " approver: Head of infrastructure, expires: 2030-01-01}\n",
        encoding="utf-8",
    )
    run = runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=REPO / "compliance",
        limit=",".join(sshd),
        controls=["PDIC-SSH-001", "PDIC-SSH-002"],
        waivers_file=waivers,
        connect=connect,
        today=dt.date(2026, 11, 28),
        lynis=True,
    )
    document: dict[str, Any] = json.loads(report.to_json(run.results, run.waivers, lynis=run.lynis))
    return document


@pytest.fixture
def before(tmp_path: Path) -> dict[str, Any]:
    default = "debian12-default.txt"
    return _audit(tmp_path, {"portal-1": default, "hcc-1": default}, {"portal-1": 58, "hcc-1": 58})


@pytest.fixture
def after(tmp_path: Path) -> dict[str, Any]:
    role = "pdic-ssh-hardening.txt"
    return _audit(tmp_path, {"portal-1": role, "hcc-1": role}, {"portal-1": 71, "hcc-1": 69})


def test_outcomes_and_a_waived_failure_keeping_its_verdict(before: dict[str, Any]) -> None:
    assert audit_json.outcomes(before) == {
        ("PDIC-SSH-001", "portal-1"): "fail",
        ("PDIC-SSH-001", "hcc-1"): "fail",
        ("PDIC-SSH-002", "portal-1"): "fail",
        ("PDIC-SSH-002", "hcc-1"): "waived",
    }
    # A waiver changes the outcome, not the check's verdict: it still counts as failing.
    expected = [("PDIC-SSH-002", "portal-1"), ("PDIC-SSH-002", "hcc-1")]
    assert audit_json.not_failing(before, expected) == []
    assert audit_json.not_passing(before, expected) == [
        "PDIC-SSH-002 on portal-1: fail: passwordauthentication is 'yes', must be 'no'"
    ]


def test_not_failing_and_not_passing_name_each_host(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    expected = [("PDIC-SSH-001", "portal-1"), ("PDIC-SSH-001", "hcc-1"), ("PDIC-SSH-001", "db-1")]
    assert audit_json.not_failing(after, expected[:2]) == [
        f"PDIC-SSH-001 on {host}: pass: permitrootlogin no for everyone else (root from "
        "192.0.2.1: no); root with a key only from 10.251.0.1/32 (allowed_from): "
        "PermitRootLogin prohibit-password where 'Match User root Address 10.251.0.1/32' applies"
        for host in ("portal-1", "hcc-1")
    ]
    assert audit_json.not_passing(after, expected) == ["PDIC-SSH-001 on db-1: no result"]
    assert audit_json.not_failing(before, expected) == ["PDIC-SSH-001 on db-1: no result"]


def test_changes_between_two_audits(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert audit_json.changes(before, before) == {}
    assert audit_json.changes(before, after) == {
        ("PDIC-SSH-001", "hcc-1"): ("fail", "pass"),
        ("PDIC-SSH-001", "portal-1"): ("fail", "pass"),
        ("PDIC-SSH-002", "hcc-1"): ("waived", "pass"),
        ("PDIC-SSH-002", "portal-1"): ("fail", "pass"),
    }
    fewer = {**after, "results": [r for r in after["results"] if r["host"] != "hcc-1"]}
    assert audit_json.changes(after, fewer) == {
        ("PDIC-SSH-001", "hcc-1"): ("pass", None),
        ("PDIC-SSH-002", "hcc-1"): ("pass", None),
    }


def test_lynis_before_and_after(tmp_path: Path, before: dict[str, Any]) -> None:
    role = "pdic-ssh-hardening.txt"
    after = _audit(tmp_path, {"portal-1": role, "hcc-1": role}, {"portal-1": 71, "hcc-1": None})
    found = audit_json.lynis_before_after(before, after)
    left = found["hosts"]["portal-1"].pop("lynis_left_after")
    assert found["hosts"] == {
        "hcc-1": {
            "lynis_before": 58,
            "lynis_after": None,
            "lynis_rise": None,
            "pdic_score_before": 0.5,
            "pdic_score_after": 1.0,
            "notes": ["lynis not installed"],
            "lynis_left": {"out_of_reach": 0, "pdic_control": 0, "lynis": 0},
            "lynis_left_after": [],
        },
        "portal-1": {
            "lynis_before": 58,
            "lynis_after": 71,
            "lynis_rise": 13,
            "pdic_score_before": 0.0,
            "pdic_score_after": 1.0,
            "notes": [],
            # The recorded report's 2 warnings and 25 suggestions, on a container host.
            "lynis_left": {"out_of_reach": 4, "pdic_control": 17, "lynis": 6},
        },
    }
    assert len(left) == 27
    assert left[0] == "PKGS-7392 warning: checked by pdic: PDIC-UPD-003 not checked here"
    assert "SSH-7408 suggestion: checked by pdic: PDIC-SSH-008 not checked here" in left
    assert found["centre_pdic_score"] == {"before": 0.25, "after": 1.0}
    assert audit_json.format_before_after(found) == [
        "host         lynis before  after  rise   pdic before -> after"
        "   points left (reach/pdic/lynis)",
        "hcc-1                  58      -     -   50% -> 100%   0/0/0",
        "portal-1               58     71    13   0% -> 100%   4/17/6",
        "centre pdic score: 25% -> 100%",
    ]


def test_a_lab_not_audited_unhardened_has_no_before(after: dict[str, Any]) -> None:
    found = audit_json.lynis_before_after(None, after)
    assert found["hosts"]["hcc-1"]["lynis_before"] is None
    assert found["hosts"]["hcc-1"]["lynis_after"] == 69
    assert found["centre_pdic_score"] == {"before": None, "after": 1.0}
    assert audit_json.format_before_after(found)[1] == (
        "hcc-1                   -     69     -   - -> 100%   4/17/6"
    )


def test_hosts_below_the_bar(after: dict[str, Any]) -> None:
    found = audit_json.lynis_before_after(None, after)
    assert audit_json.below(found, 70) == {"hcc-1": 69}
    assert audit_json.below(found, 69) == {}
    found["hosts"]["hcc-1"]["lynis_after"] = None
    assert audit_json.below(found, 0) == {"hcc-1": None}


OUT_OF_REACH = ["KRNL-6000", "FILE-6310", "ACCT-9622", "ACCT-9628"]


def test_every_lynis_point_left_has_a_reason(after: dict[str, Any]) -> None:
    assert audit_json.unexplained_lynis_points(after, OUT_OF_REACH) == []


def test_a_point_left_without_its_reason_is_named(after: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(after))
    portal = broken["lynis"]["portal-1"]
    portal["remaining"][0]["why"]["vi"] = ""
    file_6310 = next(p for p in portal["remaining"] if p["test"] == "FILE-6310")
    file_6310["reason"] = "lynis"
    broken["lynis"]["hcc-1"]["remaining"].pop()
    assert audit_json.unexplained_lynis_points(broken, OUT_OF_REACH) == [
        "hcc-1: 27 points counted, 26 listed",
        "portal-1: PKGS-7392 warning 'Found one or more vulnerable packages.': no reason in "
        f"both languages: {portal['remaining'][0]}",
        "portal-1: FILE-6310 suggestion 'To decrease the impact of a full /home file system, "
        "place /home on a separate partition': out of reach in a container, given "
        f"{file_6310['why']['en']!r}",
    ]
