"""pdic.exits through pdic.cli.main: every way a run ends is an exit code and at most one line.

The commands' package functions are replaced by ones that raise what a real run can meet
(Ctrl-C, a bug, a host that does not answer); nothing here reaches a host or starts a process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paramiko
import pytest
from testinfra.backend.paramiko import ParamikoBackend

from pdic import connect
from pdic.cli import main
from pdic.errors import HostUnreachable
from pdic.inventory import Host

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "inventory" / "lab")


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDIC_DEBUG", raising=False)


def _raising(exc: BaseException) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


def test_ctrl_c_is_exit_130_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("pdic.inventory.load_inventory", _raising(KeyboardInterrupt()))
    assert main(["inventory", "hosts", "-i", LAB]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["pdic: interrupted"]


def test_an_unforeseen_error_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("pdic.inventory.load_inventory", _raising(ZeroDivisionError("oops\nhere")))
    assert main(["inventory", "hosts", "-i", LAB]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "pdic: error: ZeroDivisionError: oops here (pdic could not handle this; "
        "PDIC_DEBUG=1 shows where)"
    ]


def test_pdic_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PDIC_DEBUG", "1")
    monkeypatch.setattr("pdic.inventory.load_inventory", _raising(ZeroDivisionError("oops")))
    assert main(["inventory", "hosts", "-i", LAB]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (most recent call last):"
    assert err[-1] == "pdic: error: ZeroDivisionError: oops"


def test_a_host_that_does_not_answer_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Down:
        def run(self, *args: Any) -> Any:
            raise HostUnreachable("backup-1: cannot run commands over SSH as pdicops@x: timed out")

    monkeypatch.setattr("pdic.connect.testinfra_host", lambda host: Down())
    assert main(["db", "restore-drill", "-i", LAB, "--json"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "pdic: error: backup-1: cannot run commands over SSH as pdicops@x: timed out"
    ]


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("timed out"),
        ConnectionRefusedError(111, "Connection refused"),
        paramiko.AuthenticationException("Authentication failed."),
        paramiko.SSHException("Error reading SSH protocol banner"),
        EOFError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_connection_failures_name_the_inventory_host(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    host = connect.testinfra_host(Host("db-1", "192.0.2.31", ("db",), {"ansible_user": "ops"}))
    # What testinfra's own run raises (it would connect first: never here).
    monkeypatch.setattr(ParamikoBackend, "run", _raising(error))
    with pytest.raises(HostUnreachable) as err:
        host.run("true")
    why = " ".join(str(error).split()) or type(error).__name__
    assert str(err.value) == f"db-1: cannot run commands over SSH as ops@192.0.2.31: {why}"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["cert", "list", "--bogus"],
            "pdic: error: cert list: No such option: --bogus (see pdic cert list --help)",
        ),
        (
            ["db", "promote"],
            "pdic: error: db promote: Missing argument 'host' (see pdic db promote --help)",
        ),
        (
            ["app", "upgrade", "eoffice", "2", "--serial", "x"],
            "pdic: error: --serial: Input should be a valid integer, unable to parse string as an"
            " integer",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [line]


def test_help_and_success_are_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "--help"]) == 0
    assert main(["inventory", "check", "-i", LAB]) == 0
    assert capsys.readouterr().err == ""
