"""pdic agency apply through the CLI with a fake Ansible: the run's --limit and --tags are the
plan's, the agency's show follows, a failed converge is exit 1, and --check changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pdic.deploy
from pdic.agency import live
from pdic.cli import main
from pdic.deploy import DeployResult, HostSummary

REPO = Path(__file__).resolve().parents[3]
LAB = str(REPO / "inventory" / "lab")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def deploy(inventory: Any, **kwargs: Any) -> DeployResult:
        calls.append(kwargs)
        failed = kwargs.get("engine") == "ansible"  # how a test asks for a failure
        hosts = [
            HostSummary(h, ok=20, changed=3, failures=int(failed))
            for h in kwargs["limit"].split(",")
        ]
        return DeployResult(1 if failed else 0, hosts)

    monkeypatch.setattr(pdic.deploy, "deploy", deploy)
    return calls


def test_apply_converges_the_plan_then_shows_the_agency(
    runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agency", "apply", "so-tu-phap", "-i", LAB, "--offline"]) == 0
    assert runs == [
        {
            "limit": "portal-1,eoffice-1,mail-1,mon-1",
            "tags": "etc_hosts,pki,web,monitoring,mail,aide",
            "engine": None,
        }
    ]
    out = capsys.readouterr().out
    assert out.startswith(
        "ansible-playbook playbooks/site.yml --limit portal-1,eoffice-1,mail-1,mon-1 "
        "--tags etc_hosts,pki,web,monitoring,mail,aide\n  portal-1: serves site sotuphap (web)"
    )
    assert "portal-1 ok=20 changed=3 failed=0 unreachable=0\n" in out
    assert "\nso-tu-phap: Sở Tư pháp\n" in out


def test_apply_ends_with_the_live_show(
    runs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def read(inventory: Any, agency: Any, readers: Any) -> dict[str, Any]:
        return {"sites": [], "dns_records": "; the zone\n$ORIGIN x.\n"}

    monkeypatch.setattr(live, "readers", lambda inventory, timeout: None)
    monkeypatch.setattr(live, "read", read)
    assert main(["agency", "apply", "so-tu-phap", "-i", LAB]) == 0
    out = capsys.readouterr().out
    assert out.endswith("live:\n  sites: none\nDNS records to publish:\n; the zone\n$ORIGIN x.\n")


def test_a_failed_converge_is_exit_1_without_the_show(
    runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agency", "apply", "tien-hai", "-i", LAB, "--offline", "--engine", "ansible"]) == 1
    assert "tien-hai: " not in capsys.readouterr().out


def test_check_runs_ansible_in_check_mode_only(
    runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agency", "apply", "tien-hai", "-i", LAB, "--check"]) == 0
    assert runs == [
        {
            "check": True,
            "limit": "portal-1,mon-1",
            "tags": "etc_hosts,pki,web,monitoring,aide",
            "engine": None,
        }
    ]
    assert "deploy (check) recap" in capsys.readouterr().out


def test_an_unknown_agency_is_bad_input(
    runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agency", "apply", "so-khong-co", "-i", LAB]) == 2
    assert capsys.readouterr().err.startswith("pdic: error: no agency 'so-khong-co' in ")
    assert runs == []
