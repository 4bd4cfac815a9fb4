"""The `pdic` command line through pdic.cli.main: help, exit codes and the one-line errors.

Commands that would touch the lab or run Ansible are stopped before they can: an autouse fixture
points the lab's directories at a temporary path and makes any subprocess call or exec fail the
test; the tests that go further replace the one package function the command calls.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pdic import lab
from pdic.cli import main
from pdic.deploy import DeployResult, HostSummary
from pdic.errors import LabError
from pdic.inventory import load_inventory
from pdic.lab import HostState

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "inventory_corpus"
COMMANDS = [
    [],
    ["inventory"],
    ["inventory", "check"],
    ["inventory", "hosts"],
    ["lab"],
    ["lab", "up"],
    ["lab", "down"],
    ["lab", "status"],
    ["lab", "ssh"],
    ["lab", "destroy"],
    ["bootstrap"],
    ["deploy"],
    ["monitoring"],
    ["monitoring", "targets"],
    ["cert"],
    ["cert", "list"],
    ["cert", "revoke"],
    ["admin"],
    ["admin", "totp"],
    ["admin", "enroll"],
    ["agency"],
    ["agency", "list"],
    ["agency", "show"],
    ["agency", "add"],
    ["agency", "apply"],
    ["agency", "retire"],
]


@pytest.fixture(autouse=True)
def _sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The repository as working directory; no process, exec or real lab state."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a unit test started a process: {args}")

    monkeypatch.chdir(REPO)
    monkeypatch.delenv("PDIC_HOME", raising=False)
    monkeypatch.delenv("PDIC_ENGINE", raising=False)
    monkeypatch.setenv("PDIC_LAB_DIR", str(tmp_path / "lab-state"))
    monkeypatch.setenv("PDIC_LAB_CACHE", str(tmp_path / "lab-cache"))
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(os, "execvp", refuse)
    return tmp_path


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("inventory", "lab", "bootstrap", "deploy"):
        assert command in out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "pdic")
def test_every_help_exits_0(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert main([*command, "--help"]) == 0
    captured = capsys.readouterr()
    assert "Usage: pdic" in captured.out
    assert captured.err == ""


# --------------------------------------------------------------------------------------------
# inventory


def test_inventory_check_of_a_broken_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    case = CORPUS / "36-mail-typo-and-missing-key"
    assert main(["inventory", "check", "-i", str(case)]) == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert err
    assert all(line.startswith("pdic: error: ") for line in err)
    assert err == [f"pdic: error: {line}" for line in expected]
    assert captured.out == ""


def test_inventory_check_of_the_lab(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "check", "-i", "inventory/lab"]) == 0
    assert capsys.readouterr().out == "inventory/lab: inventory is valid\n"


def test_inventory_hosts_with_a_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "hosts", "-i", "inventory/lab", "--limit", "db"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "db-1\t10.251.0.31\tdb",
        "db-2\t10.251.0.32\tdb",
    ]


def test_inventory_hosts_unknown_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "hosts", "-l", "dbb"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("pdic: error: --limit: 'dbb' matches no host or group")


def test_a_domain_error_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(path: Any) -> Any:
        raise LabError("the lab bridge is gone")

    monkeypatch.setattr("pdic.inventory.load_inventory", broken)
    assert main(["inventory", "hosts"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "pdic: error: the lab bridge is gone\n"
    assert captured.out == ""


@pytest.mark.parametrize(
    "argv",
    [["inventory", "check", "--bogus"], ["inventory", "hosts", "extra"], ["lab", "bogus"]],
    ids=["unknown-option", "extra-argument", "unknown-subcommand"],
)
def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err != ""


def test_a_group_without_subcommand_shows_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    main(["lab"])
    out = capsys.readouterr().out
    for sub in ("up", "down", "status", "ssh", "destroy"):
        assert sub in out


def test_monitoring_targets_writes_one_file_per_job(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "targets"
    assert main(["monitoring", "targets", "-i", "inventory/lab", "-o", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed and all(Path(p).parent == out and Path(p).exists() for p in printed)
    node = json.loads((out / "node.json").read_text())
    assert sorted(t["labels"]["host"] for t in node) == sorted(
        load_inventory("inventory/lab").hosts
    )


def test_monitoring_targets_of_a_broken_inventory_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "targets"
    assert main(["monitoring", "targets", "-i", str(CORPUS / "06-bad-ip"), "-o", str(out)]) == 2
    assert capsys.readouterr().err.startswith("pdic: error: hosts.yml: ")
    assert not out.exists() or not any(out.iterdir())


# --------------------------------------------------------------------------------------------
# lab


def test_lab_up_as_a_user_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], _sandbox: Path
) -> None:
    # Lab.up checks root before anything else; the sandbox refuses any process if it did not.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["lab", "up"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("pdic: error: the lab needs root")
    assert not (_sandbox / "lab-state").exists()
    assert not (_sandbox / "lab-cache").exists()


def test_lab_status_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    states = [
        HostState("portal-1", "10.251.0.11", True, "running", 4242),
        HostState("db-1", "10.251.0.31", False, "stopped", None),
    ]
    monkeypatch.setattr(lab.Lab, "status", lambda self, limit=None: states)
    assert main(["lab", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [s.as_dict() for s in states]


def test_lab_ssh_execs_ssh(monkeypatch: pytest.MonkeyPatch, _sandbox: Path) -> None:
    execs: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: execs.append((file, argv)))
    assert main(["lab", "ssh", "db-1", "-u", "root", "--", "uptime", "-p"]) == 0
    [(file, argv)] = execs
    assert file == "ssh"
    assert argv[-3:] == ["root@10.251.0.31", "uptime", "-p"]
    assert str(_sandbox / "lab-state" / "ssh" / "id_ed25519") in argv


def test_lab_destroy_declined_deletes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(lab.Lab, "destroy", lambda self: pytest.fail("destroy ran"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert main(["lab", "destroy"]) == 1
    assert "Aborted" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# deploy


def test_deploy_unknown_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--engine", "bogus", "-i", "inventory/lab"]) == 2
    assert capsys.readouterr().err == (
        "pdic: error: --engine: 'bogus' is not one of mitogen, ansible\n"
    )


def test_deploy_of_a_broken_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "-i", str(CORPUS / "08-bad-cidr")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "pdic: error: group_vars/all/centre.yml: pdic_network: '192.0.2.0/33' is not a network "
        "in CIDR notation (such as 192.0.2.0/24)"
    ]


@pytest.mark.parametrize(
    ("hosts", "rc"),
    [
        ([HostSummary("db-1", ok=40, changed=2), HostSummary("db-2", ok=38)], 0),
        ([HostSummary("db-1", ok=40), HostSummary("db-2", ok=12, failures=1)], 1),
    ],
)
def test_deploy_exit_code_follows_the_recap(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    hosts: list[HostSummary],
    rc: int,
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_deploy(inventory: Any, **kwargs: Any) -> DeployResult:
        calls.append({"inventory": inventory, **kwargs})
        return DeployResult(rc * 2, hosts)

    monkeypatch.setattr("pdic.deploy.deploy", fake_deploy)
    assert main(["deploy", "-l", "db", "-C", "--tags", "postgresql", "--engine", "ansible"]) == rc
    [call] = calls
    assert call["inventory"].path == Path("inventory/lab")  # loaded once, by the command
    assert set(call["inventory"].hosts) >= {"db-1", "db-2"}
    assert call["limit"] == "db"
    assert call["check"] is True
    assert call["tags"] == "postgresql"
    assert call["engine"] == "ansible"
    out = capsys.readouterr().out
    assert "db-1" in out
    assert "db-2" in out
