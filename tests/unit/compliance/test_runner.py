"""The audit runner and `pdic audit`, with fake hosts that answer recorded command outputs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pdic.cli import main
from pdic.compliance import runner
from pdic.compliance.catalogue import ComplianceError, load_catalogue
from pdic.inventory import Host, load_valid_inventory

from .fakes import REPO, FakeHost, fixture_text, sshd_replies

CATALOGUE = REPO / "compliance"
LAB = REPO / "inventory" / "lab"


def _sshd(name: str, match: object = (1, "")) -> FakeHost:
    return FakeHost(
        {
            "systemd-detect-virt --container": (0, "systemd-nspawn\n"),
            **sshd_replies(fixture_text(f"sshd-T/{name}"), match),
        }
    )


def _connect(outputs: dict[str, str]) -> Any:
    """host name -> fixture name of its `sshd -T`; hosts not listed are unreachable."""

    def connect(host: Host) -> FakeHost:
        if host.name not in outputs:
            raise ConnectionRefusedError(f"{host.address}:22")
        return _sshd(outputs[host.name])

    return connect


def _fixtures() -> tuple[str, str]:
    """Recorded `sshd -T` of Debian 12's defaults and of a hardened configuration."""
    return "debian12-default.txt", "debian12-hardened.txt"


def test_select_controls_by_id_and_prefix() -> None:
    catalogue = load_catalogue(CATALOGUE)
    ssh = runner.select_controls(catalogue, ["PDIC-SSH"])
    assert ssh and all(c.id.startswith("PDIC-SSH-") for c in ssh)
    assert [c.id for c in runner.select_controls(catalogue, ["PDIC-SSH-001"])] == ["PDIC-SSH-001"]
    assert len(runner.select_controls(catalogue, None)) == len(catalogue)


def test_unknown_control_is_a_clear_error() -> None:
    with pytest.raises(ComplianceError, match=r"--controls: 'PDIC-NOPE-1' is not a control id"):
        runner.select_controls(load_catalogue(CATALOGUE), ["PDIC-NOPE-1"])


def test_root_login_fails_where_permitted_and_passes_where_hardened() -> None:
    default, hardened = _fixtures()
    run = runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=CATALOGUE,
        limit="portal-1,db-1",
        controls=["PDIC-SSH-001"],
        connect=_connect({"portal-1": default, "db-1": hardened}),
    )
    status = {r.host: r.status for r in run.results}
    assert status == {"portal-1": "fail", "db-1": "pass"}
    evidence = next(r for r in run.results if r.host == "portal-1").evidence
    assert any("sshd -T" in e.command for e in evidence)


def test_the_lab_inventory_allows_root_from_the_control_machine_only(tmp_path: Path) -> None:
    # The role's sshd_config on every host; the lab inventory's ssh_hardening_root_login_from
    # reaches the check, a copy of the inventory without it fails the same hosts.
    match = (
        "PermitRootLogin no\n"
        "Match User root Address 10.251.0.1/32\n"
        "    PermitRootLogin prohibit-password\n"
    )

    def role(host: Host) -> FakeHost:
        return _sshd("pdic-ssh-hardening.txt", match)

    def audit(inventory: Path) -> dict[str, str]:
        run = runner.audit(
            load_valid_inventory(inventory),
            catalogue_dir=CATALOGUE,
            limit="portal-1,hcc-1",
            controls=["PDIC-SSH-001"],
            connect=role,
        )
        return {r.host: r.outcome for r in run.results}

    assert audit(LAB) == {"portal-1": "pass", "hcc-1": "pass"}
    production = tmp_path / "inventory"
    shutil.copytree(LAB, production)
    hardening = production / "group_vars" / "all" / "hardening.yml"
    text = hardening.read_text(encoding="utf-8")
    lab_value = "ssh_hardening_root_login_from:\n  - 10.251.0.1/32\n"
    assert lab_value in text
    hardening.write_text(
        text.replace(lab_value, "ssh_hardening_root_login_from: []\n"), encoding="utf-8"
    )
    assert audit(production) == {"portal-1": "fail", "hcc-1": "fail"}


def test_unreachable_host_is_an_error_for_each_control_never_a_pass() -> None:
    run = runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=CATALOGUE,
        limit="mail-1",
        controls=["PDIC-SSH"],
        connect=_connect({}),
    )
    assert run.results
    assert {r.status for r in run.results} == {"error"}
    assert all("host unreachable" in r.message for r in run.results)


def test_an_active_waiver_covers_a_failure_and_an_expired_one_does_not(tmp_path: Path) -> None:
    default, _ = _fixtures()
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(
        "---\nwaivers:\n"
        "  - {control: PDIC-SSH-001, hosts: [portal-1], justification: migration,"
        " approver: Head of infrastructure, expires: 2030-01-01}\n"
        "  - {control: PDIC-SSH-001, hosts: [hcc-1], justification: old,"
        " approver: Head of infrastructure, expires: 2020-01-01}\n"
    )
    run = runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=CATALOGUE,
        limit="portal-1,hcc-1",
        controls=["PDIC-SSH-001"],
        waivers_file=waivers,
        connect=_connect({"portal-1": default, "hcc-1": default}),
        today=dt.date(2026, 11, 28),
    )
    outcome = {r.host: r.outcome for r in run.results}
    assert outcome == {"portal-1": "waived", "hcc-1": "fail"}
    assert [w.hosts for w in run.waivers.expired] == [("hcc-1",)]


def test_reports_are_written_in_every_format(tmp_path: Path) -> None:
    default, hardened = _fixtures()
    run = runner.audit(
        load_valid_inventory(LAB),
        catalogue_dir=CATALOGUE,
        limit="portal-1,db-1",
        controls=["PDIC-SSH-001"],
        connect=_connect({"portal-1": default, "db-1": hardened}),
    )
    paths = runner.write_reports(run, tmp_path, ["html", "json", "junit", "prom"], "lab")
    assert sorted(p.name for p in paths) == ["audit.html", "audit.json", "audit.prom", "audit.xml"]
    document = json.loads((tmp_path / "audit.json").read_text())
    assert document["centre"]["counts"]["fail"] == 1
    with pytest.raises(ComplianceError, match="--format: pdf"):
        runner.write_reports(run, tmp_path, ["pdf"], "lab")


def test_cli_audit_exit_code_follows_the_failures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    default, hardened = _fixtures()
    monkeypatch.setattr(runner, "testinfra_host", _connect({"portal-1": default, "db-1": hardened}))
    argv = ["audit", "-i", str(LAB), "--limit", "portal-1,db-1", "-c", "PDIC-SSH-001"]
    assert main([*argv, "-o", str(tmp_path)]) == 1  # a critical control fails on portal-1
    out = capsys.readouterr().out
    assert "portal-1 score=0.0%" in out and "db-1 score=100.0%" in out
    assert (tmp_path / "audit.html").exists()
    assert main([*argv, "-o", str(tmp_path), "--limit", "db-1"]) == 0
    assert main([*argv, "-o", str(tmp_path), "--fail-on", "urgent"]) == 2


# Bad input: one line naming file, key and problem, exit code 2, before any host is reached.


def _unreachable_if_called(host: Host) -> FakeHost:
    raise AssertionError(f"{host.name} was reached despite bad input")


def _cli_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> list[str]:
    monkeypatch.setattr(runner, "testinfra_host", _unreachable_if_called)
    assert main(["audit", *argv]) == 2
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{control: PDIC-NOPE-001, hosts: all, justification: j, approver: a,"
            " expires: 2030-01-01}",
            "pdic: error: waivers.yml: waivers[0].control: unknown control id 'PDIC-NOPE-001'",
        ),
        (
            "{control: PDIC-SSH-001, hosts: [portal-1, portal-9], justification: j,"
            " approver: a, expires: 2030-01-01}",
            "pdic: error: waivers.yml: waivers[0].hosts[1]: unknown host 'portal-9'"
            " (not in the inventory)",
        ),
    ],
)
def test_cli_bad_waiver_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    entry: str,
    message: str,
) -> None:
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(f"waivers:\n  - {entry}\n", encoding="utf-8")
    err = _cli_error(monkeypatch, capsys, ["-i", str(LAB), "-w", str(waivers), "-o", str(tmp_path)])
    assert err == [message]


def test_cli_invalid_inventory_is_refused_like_deploy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case = REPO / "tests" / "inventory_corpus" / "45-firewall-bad-cidr"
    err = _cli_error(monkeypatch, capsys, ["-i", str(case), "-o", str(tmp_path)])
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert err == [f"pdic: error: {line}" for line in expected]


def test_cli_group_no_control_covers_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inventory = tmp_path / "inv"
    shutil.copytree(REPO / "tests" / "inventory_corpus" / "_valid", inventory)
    hosts = inventory / "hosts.yml"
    hosts.write_text(
        hosts.read_text(encoding="utf-8")
        + "    dns:\n      hosts:\n        dns-1:\n          ansible_host: 192.0.2.71\n",
        encoding="utf-8",
    )
    (inventory / "group_vars" / "all" / "extra.yml").write_text(
        "---\npdic_extra_groups: [dns]\n", encoding="utf-8"
    )
    err = _cli_error(monkeypatch, capsys, ["-i", str(inventory), "-o", str(tmp_path)])
    assert err == ["pdic: error: inventory: groups.dns: no control covers this group"]


def test_cli_control_naming_an_unknown_check_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    catalogue = tmp_path / "compliance"
    shutil.copytree(CATALOGUE, catalogue)
    ssh = catalogue / "controls" / "ssh.yml"
    ssh.write_text(
        ssh.read_text(encoding="utf-8").replace(
            "checks: [ssh_root_login_disabled]", "checks: [ssh_root_login_off]"
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr("pdic.project.project_root", lambda: tmp_path)
    err = _cli_error(monkeypatch, capsys, ["-i", str(LAB), "-o", str(tmp_path)])
    assert err == [
        "pdic: error: controls/ssh.yml: controls[0].checks[0]: unknown check 'ssh_root_login_off'",
        "pdic: error: controls/ssh.yml: controls[0].params.ssh_root_login_disabled: is not one of "
        "this control's checks",
    ]
