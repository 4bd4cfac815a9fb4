"""The change journal: a record per changing command, kept on the controller (0600) and sent
to the centre's log host over TCP syslog; `pdic journal` reads it back."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from pdic import journal
from pdic.cli import main
from pdic.errors import PdicError
from pdic.inventory import load_inventory

REPO = Path(__file__).resolve().parents[1].parent
LAB = REPO / "inventory" / "lab"
REAL_LOG_HOST = journal.log_host
REAL_GIT_STATE = journal.git_state


@pytest.fixture
def log_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """A TCP syslog receiver on loopback, given to the journal as the inventory's log host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while data := conn.recv(65536):
                    chunks.append(data)
                received.append(b"".join(chunks))

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setattr(journal, "log_host", lambda inventory: listener.getsockname())
    yield received
    listener.close()


def _wait_for(received: list[bytes]) -> bytes:
    for _ in range(200):
        if received:
            return received[0]
        threading.Event().wait(0.01)
    raise AssertionError("the log host received nothing")


def test_a_command_is_recorded_here_and_at_the_log_host(
    log_server: list[bytes], _journal_kept_aside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUDO_USER", "an")
    inventory = load_inventory(LAB)
    with journal.journaled("deploy", inventory, ["portal-1", "db-1"], argv=["deploy"]) as record:
        record.outcomes = {"portal-1": "changed", "db-1": "ok"}
    line = _wait_for(log_server)
    assert line.startswith(b"<85>1 ") and line.endswith(b"\n")
    head, _, body = line.decode().partition(" - ")
    assert head.split()[3:6] == ["pdic", head.split()[4], "journal"]
    sent = json.loads(body)
    [kept] = [json.loads(x) for x in _journal_kept_aside.read_text().splitlines()]
    assert kept["id"] == sent["id"] and kept["sent"] is True
    assert sent["command"] == "deploy" and sent["argv"] == ["pdic", "deploy"]
    assert sent["sudo_user"] == "an" and sent["exit_code"] == 0
    assert sent["hosts"] == ["portal-1", "db-1"] and sent["inventory"] == str(LAB)
    assert sent["outcomes"] == {"portal-1": "changed", "db-1": "ok"}
    assert _journal_kept_aside.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("raised", "code", "error"),
    [
        (typer.Exit(1), 1, None),
        (PdicError("db-2: cannot connect"), 2, "db-2: cannot connect"),
        (KeyboardInterrupt(), 130, "KeyboardInterrupt"),
        (OSError("no route to host"), 1, "no route to host"),
    ],
)
def test_how_a_command_ended_is_recorded(
    _journal_kept_aside: Path, raised: BaseException, code: int, error: str | None
) -> None:
    with pytest.raises(type(raised)), journal.journaled("db promote", load_inventory(LAB)):
        raise raised
    [kept] = journal.read()
    assert (kept.exit_code, kept.error) == (code, error)


def test_an_unreachable_log_host_is_one_warning_and_the_record_is_kept(
    _journal_kept_aside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    address = closed.getsockname()
    closed.close()
    monkeypatch.setattr(journal, "log_host", lambda inventory: address)
    warnings: list[str] = []
    with journal.journaled("bootstrap", load_inventory(LAB), warn=warnings.append):
        pass
    [warning] = warnings
    assert warning.startswith(f"pdic: warning: journal: the log host {address[0]}:{address[1]} ")
    assert journal.read()[0].sent is False


def test_the_log_host_is_the_inventorys() -> None:
    assert REAL_LOG_HOST(load_inventory(LAB)) == ("10.251.0.61", 514)


def test_the_inventorys_commit_and_changes_are_recorded(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(LAB, repo / "inventory")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=ops@example.vn", "-c", "user.name=ops", "add", ".")
    git("-c", "user.email=ops@example.vn", "-c", "user.name=ops", "commit", "-qm", "x")
    commit, dirty = REAL_GIT_STATE(repo / "inventory")
    assert commit is not None and len(commit) == 40 and dirty is False
    (repo / "inventory" / "hosts.yml").write_text("# hand edit\n", encoding="utf-8")
    assert REAL_GIT_STATE(repo / "inventory") == (commit, True)
    assert REAL_GIT_STATE(tmp_path) == (None, None)


def _record(started: str, hosts: list[str], command: str = "deploy") -> journal.Record:
    return journal.Record(
        command=command,
        argv=["pdic", command],
        inventory="inventory/lab",
        started=started,
        user="root",
        sudo_user=None,
        controller="ctl",
        git_commit="a" * 40,
        git_dirty=True,
        hosts=hosts,
        outcomes=dict.fromkeys(hosts, "ok"),
        exit_code=0,
        duration_s=12.3,
    )


def test_pdic_journal_filters_by_time_and_host(
    _journal_kept_aside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = _record((now - dt.timedelta(days=10)).isoformat(timespec="seconds"), ["db-1"])
    new = _record((now - dt.timedelta(hours=1)).isoformat(timespec="seconds"), ["portal-1"])
    journal.append(old)
    journal.append(new)
    assert main(["journal", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [old.id, new.id]
    assert main(["journal", "--since", "7d", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [new.id]
    assert main(["journal", "--host", "db-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "root  deploy  inventory/lab@aaaaaaaaaa+dirty  1 host: 1 ok" in out[0]
    assert main(["journal", "--since", "soon"]) == 2
    assert "--since: 'soon' is not a duration" in capsys.readouterr().err


def test_a_damaged_journal_is_one_line(
    _journal_kept_aside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _journal_kept_aside.write_text("{not json\n", encoding="utf-8")
    assert main(["journal"]) == 2
    assert f"{_journal_kept_aside}: line 1: not a journal record" in capsys.readouterr().err


def test_deploy_is_journaled_and_a_check_is_not(
    _journal_kept_aside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdic.deploy import DeployResult, HostSummary

    hosts = [HostSummary("db-1", ok=40, changed=2), HostSummary("db-2", ok=12, failures=1)]
    monkeypatch.setattr("pdic.deploy.deploy", lambda inventory, **kw: DeployResult(2, hosts))
    assert main(["deploy", "--limit", "db", "--check"]) == 1
    assert journal.read() == []
    assert main(["deploy", "--limit", "db"]) == 1
    [record] = journal.read()
    assert record.command == "deploy" and record.argv == ["pdic", "deploy", "--limit", "db"]
    assert record.hosts == ["db-1", "db-2"]
    assert record.outcomes == {"db-1": "changed", "db-2": "failed"}
    assert record.exit_code == 1
