"""pdic.db: parsing of recorded output, drill planning and comparison, promotion steps."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from pdic.db import drill, promote, status
from pdic.db.common import DbError, topology
from pdic.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[3]
LAB = load_inventory(ROOT / "inventory" / "lab")
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "db"
INFO = (FIXTURES / "pgbackrest-info.json").read_text()


# -- status ----------------------------------------------------------------------------------


def test_topology_of_the_lab() -> None:
    topo = topology(LAB)
    assert topo.primary.name == "db-1"
    assert [h.name for h in topo.replicas] == ["db-2"]
    assert topo.repository is not None and topo.repository.name == "backup-1"
    assert topo.fqdn(topo.primary) == "db-1.lab.pdic.internal"


def test_pg_stat_replication_rows() -> None:
    # psql -XAtq -F '|' output of PRIMARY_SQL on db-1 with db-2 streaming, 2 kB behind.
    rows = [["db-2", "10.251.0.32", "streaming", "2048", "0.004512"]]
    assert status.parse_replication(rows) == [
        status.Replication("db-2", "10.251.0.32", "streaming", 2048, 0.004512)
    ]


def test_replica_row() -> None:
    assert status.parse_replica(["0", "0", "streaming"]) == (0, 0.0, "streaming")
    assert status.parse_replica(["16777216", "42.5", ""]) == (16777216, 42.5, "")


def test_pgbackrest_info_newest_backup_and_drill() -> None:
    state = {"stanzas": {"main": {"last_success": 1772388007, "last_drill_success": 1772000000}}}
    [backup] = status.parse_pgbackrest_info(INFO, state)
    assert backup.stanza == "main" and backup.status == "ok"
    assert backup.label == "20260301-010002F_20260302-010004D"
    assert backup.kind == "diff" and backup.stop == 1772388007
    assert backup.last_drill == 1772000000


def test_pgbackrest_info_without_backups() -> None:
    text = json.dumps([{"name": "main", "status": {"code": 2, "message": "no valid backups"}}])
    [backup] = status.parse_pgbackrest_info(text, None)
    assert backup.label == "" and backup.status == "no valid backups" and backup.last_drill == 0


def test_pgbackrest_info_not_json() -> None:
    with pytest.raises(DbError, match="did not print JSON"):
        status.parse_pgbackrest_info("ERROR: [056]: unable to find primary cluster")


def test_format_status() -> None:
    now = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
    st = status.DbStatus(
        [
            status.Node(
                "db-1",
                "primary",
                "primary",
                replicas=[status.Replication("db-2", "10.251.0.32", "streaming", 0, 0.0)],
            ),
            status.Node("db-2", "replica", "primary"),
        ],
        status.parse_pgbackrest_info(INFO, None),
    )
    text = status.format_status(st, now)
    assert "db-1: primary, 1 replica(s) streaming" in text
    assert "db-2: primary (inventory says replica)" in text
    assert "last backup diff 20260301-010002F_20260302-010004D, 2026-03-01 18:00 UTC" in text
    assert "last restore drill never" in text


class FakeResult:
    def __init__(self, rc: int, stdout: str = "", stderr: str = "") -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


class FakeHost:
    """A testinfra host answering commands from a table of (substring -> output)."""

    def __init__(self, name: str, answers: dict[str, Any]) -> None:
        self.name = name
        self.answers = answers
        self.commands: list[str] = []

    def run(self, command: str, *args: str) -> FakeResult:
        text = command % tuple(shlex.quote(a) for a in args) if args else command
        self.commands.append(text)
        for key, answer in self.answers.items():
            if key in text:
                return answer if isinstance(answer, FakeResult) else FakeResult(0, answer)
        return FakeResult(0, "")


def test_collect_reports_an_unreachable_host_and_goes_on() -> None:
    hosts = {
        "db-1": FakeHost(
            "db-1",
            {"pg_is_in_recovery": "f\n", "pg_stat_replication": "db-2|10.251.0.32|streaming|0|0\n"},
        ),
        "db-2": FakeHost(
            "db-2", {"pg_is_in_recovery": FakeResult(2, "", "psql: error: connection refused")}
        ),
        "backup-1": FakeHost("backup-1", {"pgbackrest": INFO, "cat --": "{}"}),
    }
    st = status.collect(LAB, lambda h: hosts[h.name])
    assert st.nodes[0].actual == "primary" and st.nodes[0].replicas[0].name == "db-2"
    assert st.nodes[1].error == "db-2: psql: psql: error: connection refused"
    assert st.backups[0].label.endswith("D")


# -- drill -----------------------------------------------------------------------------------


def test_checksums_parse_and_compare() -> None:
    source = drill.parse_checksums("vanban", "public.doc|1000|abc\npublic.sig|3|def\n")
    assert source == {"vanban:public.doc": (1000, "abc"), "vanban:public.sig": (3, "def")}
    restored = {
        "vanban:public.doc": (999, "x"),
        "vanban:public.sig": (3, "zzz"),
        "vanban:public.new": (0, ""),
    }
    assert drill.compare(source, restored) == [
        "vanban:public.doc: 999 rows restored, 1000 in the source",
        "vanban:public.new: in the restore but not in the source",
        "vanban:public.sig: same row count, different content (checksum)",
    ]
    assert drill.compare(source, dict(source)) == []
    assert drill.compare(source, {}) == [
        "vanban:public.doc: missing from the restore",
        "vanban:public.sig: missing from the restore",
    ]


# The scratch instance's log of a point-in-time restore (PostgreSQL 15 wording).
RECOVERY_LOG = "\n".join(
    [
        "2026-03-02 10:20:01.123 UTC [5012] LOG:  starting point-in-time recovery to 2026"
        "-03-02 10:15:00+00",
        '2026-03-02 10:20:01.500 UTC [5012] LOG:  restored log file "00000001000000000000'
        '0008" from archive',
        "2026-03-02 10:20:02.010 UTC [5012] LOG:  recovery stopping before commit of tran"
        "saction 1234, time 2026-03-02 10:15:00.412+00",
        "2026-03-02 10:20:02.011 UTC [5012] LOG:  redo done at 0/8001F60 system usage: CP"
        "U: user: 0.00 s",
        "2026-03-02 10:20:02.011 UTC [5012] LOG:  last completed transaction was at log t"
        "ime 2026-03-02 10:14:59.871+00",
    ]
)


def test_recovery_log_and_point_in_time_check() -> None:
    stop, last = drill.parse_recovery_log(RECOVERY_LOG)
    assert stop == "2026-03-02 10:15:00.412+00" and last == "2026-03-02 10:14:59.871+00"
    target = drill.parse_target("2026-03-02T10:15:00+00:00")
    assert drill.check_pitr(target, stop, last) == []
    early = drill.parse_target("2026-03-02T10:14:00")
    assert drill.check_pitr(early, stop, last)[0].startswith("a transaction of 2026-03-02 10:14:59")
    assert "did not report stopping" in drill.check_pitr(target, "", last)[0]


def test_bad_target_is_one_clear_error() -> None:
    with pytest.raises(DbError, match="--target: 'yesterday' is not a time"):
        drill.parse_target("yesterday")


def test_restore_argv_never_archives_into_the_repository() -> None:
    argv = drill.restore_argv("main", "/var/tmp/d", target_lsn="0/8001F60")
    assert argv[:4] == [
        "pgbackrest",
        "--config=/var/tmp/d.pgbackrest.conf",
        "--stanza=main",
        "--pg1-path=/var/tmp/d",
    ]
    assert "--type=lsn" in argv and "--target=0/8001F60" in argv
    assert "--archive-mode=off" in argv and argv[-1] == "restore"
    pitr = drill.restore_argv("main", "/var/tmp/d", target_time="2026-03-02 10:15:00+00:00")
    assert "--type=time" in pitr and "--target=2026-03-02 10:15:00+00:00" in pitr
    assert "--type=immediate" in drill.restore_argv("main", "/var/tmp/d")


def test_scratch_instance_listens_on_no_network() -> None:
    conf = drill.scratch_settings("/var/tmp/d")
    assert "listen_addresses = ''" in conf and f"port = {drill.SCRATCH_PORT}" in conf
    assert "archive_mode = off" in conf
    assert "sed -e '/^pg[0-9]*-/d'" in drill.scratch_config(
        "/etc/pgbackrest/pgbackrest.conf", "/var/tmp/d"
    )


def test_drill_without_a_replica_is_refused(tmp_path: Path) -> None:
    import shutil

    inv_dir = tmp_path / "inv"
    shutil.copytree(ROOT / "inventory" / "lab", inv_dir)
    hosts = (
        (inv_dir / "hosts.yml")
        .read_text()
        .replace("postgresql_role: replica", "postgresql_role: primary")
    )
    hosts = hosts.replace(
        "        db-2:\n          ansible_host: 10.251.0.32\n          postgresql_role: primary\n",
        "",
    )
    (inv_dir / "hosts.yml").write_text(
        hosts.replace("    db:\n      hosts:\n", "    db:\n      hosts:\n", 1)
    )
    inv = load_inventory(inv_dir)
    with pytest.raises(DbError, match="has none"):
        drill.run_drill(inv, lambda h: None)


def test_drill_removes_the_scratch_instance_when_the_restore_fails() -> None:
    replica = FakeHost(
        "db-2",
        {
            "pg_get_wal_replay_pause_state": "paused\n",
            "pg_last_wal_replay_lsn": "0/8001F60\n",
            "checksum": "",
            "format(": "public.doc|5|abc\n",
        },
    )
    repo = FakeHost(
        "backup-1", {" restore": FakeResult(1, "", "ERROR: [075]: no backup set found to restore")}
    )
    hosts = {"db-2": replica, "backup-1": repo}
    with pytest.raises(DbError, match="pgbackrest restore: ERROR: \\[075\\]"):
        drill.run_drill(LAB, lambda h: hosts[h.name], clock=lambda: 1772400000.0)
    assert any("pg_wal_replay_resume" in c for c in replica.commands)
    assert any(c.startswith("rm -rf -- /var/tmp/pdic-drill-main-") for c in repo.commands)
    assert not any("pdic-backup-state" in c for c in repo.commands)


def _latest_drill(cluster_databases: str = "") -> tuple[drill.DrillResult, FakeHost, FakeHost]:
    """A drill without --target against a paused replica and a repository that both answer;
    the replica's cluster also holds ``cluster_databases`` (one name a line)."""
    rows = "public.doc|5|abc\n"
    replica = FakeHost(
        "db-2",
        {
            "pg_get_wal_replay_pause_state": "paused\n",
            "pg_last_wal_replay_lsn": "0/8001F60\n",
            "FROM pg_database": cluster_databases,
            "format(": rows,
        },
    )
    repo = FakeHost(
        "backup-1", {"pg_is_in_recovery": "f\n", "format(": rows, "cat --": RECOVERY_LOG}
    )
    hosts = {"db-2": replica, "backup-1": repo}
    result = drill.run_drill(LAB, lambda h: hosts[h.name], clock=lambda: 1772400000.0)
    return result, replica, repo


def test_successful_drill_is_recorded() -> None:
    result, _, repo = _latest_drill()
    assert result.success and len(result.tables) == len(LAB.vars["postgresql_databases"])
    assert any("--type=lsn" in c and "--target=0/8001F60" in c for c in repo.commands)
    assert any("pdic-backup-state" in c and " drill main 1772400000" in c for c in repo.commands)
    assert repo.commands[-2].startswith("rm -rf -- /var/tmp/pdic-drill-main-20260301T")


def test_cluster_databases_adds_what_the_cluster_has_once() -> None:
    rows = [["bench_backup"], ["eoffice"], [""]]
    assert drill.cluster_databases(["eoffice", "hcc"], rows) == ["bench_backup", "eoffice", "hcc"]


def test_drill_compares_databases_the_inventory_does_not_declare() -> None:
    result, replica, repo = _latest_drill("bench_backup\n")
    assert result.success
    for host in (replica, repo):
        assert any("format(" in c and "-d bench_backup" in c for c in host.commands), host.name


# -- promote ---------------------------------------------------------------------------------


def test_application_hosts_come_from_the_roles_groups() -> None:
    assert promote.app_hosts(LAB) == ["portal-1", "eoffice-1", "hcc-1"]


def test_fence_keeps_the_old_primary_down() -> None:
    commands = promote.fence_commands("db-2", "2026-03-02T10:00:00+00:00")
    assert commands[0] == "systemctl stop postgresql@15-main"
    assert "systemctl mask postgresql@15-main" in commands
    assert any("start.conf" in c and "disabled" in c for c in commands)
    assert '"new_primary": "db-2"' in commands[-1]


def test_promote_only_a_replica() -> None:
    with pytest.raises(DbError, match="db-1: not a replica"):
        promote.promote(LAB, "db-1", lambda h: None)


def test_promote_refuses_when_the_old_primary_cannot_be_fenced() -> None:
    new = FakeHost("db-2", {"pg_is_in_recovery": "t\n"})
    old = FakeHost(
        "db-1", {"systemctl stop": FakeResult(255, "", "ssh: connect to host: No route")}
    )
    hosts = {"db-2": new, "db-1": old}
    with pytest.raises(DbError, match="could not be fenced"):
        promote.promote(LAB, "db-2", lambda h: hosts[h.name])
    assert not any("pg_promote" in c for c in new.commands)


def test_promote_steps() -> None:
    answers = iter(["t\n", "", "f\n"])

    class Replica(FakeHost):
        def run(self, command: str, *args: str) -> FakeResult:
            super().run(command, *args)
            return FakeResult(0, next(answers))

    new = Replica("db-2", {})
    old = FakeHost("db-1", {})
    apps = {n: FakeHost(n, {}) for n in ("portal-1", "eoffice-1", "hcc-1")}
    hosts = {"db-2": new, "db-1": old, **apps}
    result = promote.promote(LAB, "db-2", lambda h: hosts[h.name])
    assert result.fenced and result.app_hosts == ["portal-1", "eoffice-1", "hcc-1"]
    assert "db-2.lab.pdic.internal" in apps["eoffice-1"].commands[0]
    assert result.steps[-1].startswith("now edit ")


def test_scratch_instance_takes_the_primarys_limits_from_the_backup() -> None:
    """Recovery aborts when max_connections & co. are lower than the primary's (seen in the
    lab: 20 against 200); pg_controldata of the restored directory gives the primary's."""
    recorded = (ROOT / "tests" / "unit" / "fixtures" / "db" / "pg_controldata.db-1.txt").read_text()
    primary = drill.primary_settings(recorded)
    assert primary == {
        "max_connections": 200,
        "max_worker_processes": 8,
        "max_wal_senders": 10,
        "max_prepared_transactions": 0,
        "max_locks_per_transaction": 64,
    }
    conf = drill.scratch_settings("/var/tmp/d", primary)
    assert "max_connections = 200\n" in conf and "max_locks_per_transaction = 64\n" in conf
    assert conf.count("max_connections") == 1


# -- promote under faults: a host dropping at each risky step --------------------------------


class Gone(Exception):
    """What a dropped host's connection raises (one line, as pdic.connect's)."""


class Scripted(FakeHost):
    """A host that answers from ``answers`` until ``drop_at`` (a substring) is sent: from then
    on every command raises, as when its link goes down."""

    def __init__(self, name: str, answers: dict[str, Any], drop_at: str | None = None) -> None:
        super().__init__(name, answers)
        self.drop_at = drop_at
        self.dropped = False

    def run(self, command: str, *args: str) -> FakeResult:
        text = command % tuple(shlex.quote(a) for a in args) if args else command
        if self.dropped or (self.drop_at is not None and self.drop_at in text):
            self.dropped = True
            self.commands.append(f"LOST {text}")
            raise Gone(f"{self.name}: no answer within 300 s")
        return super().run(command, *args)


class Replica(Scripted):
    """In recovery until pg_promote is run."""

    promoted = False

    def run(self, command: str, *args: str) -> FakeResult:
        result = super().run(command, *args)
        text = self.commands[-1]
        if "pg_promote" in text:
            self.promoted = True
        if "pg_is_in_recovery" in text:
            return FakeResult(0, "f\n" if self.promoted else "t\n")
        return result


APPS = ("portal-1", "eoffice-1", "hcc-1")


def _centre(
    old_drop: str | None = None, new_drop: str | None = None, app_drop: str | None = None
) -> dict[str, Scripted]:
    hosts: dict[str, Scripted] = {
        "db-1": Scripted("db-1", {}, old_drop),
        "db-2": Replica("db-2", {}, new_drop),
    }
    for name in APPS:
        hosts[name] = Scripted(name, {}, "db-primary" if name == app_drop else None)
    return hosts


def test_old_primary_dropping_after_the_stop_is_said_and_resumed_with_force(
    tmp_path: Path,
) -> None:
    state = tmp_path / "progress.json"
    hosts = _centre(old_drop="systemctl mask")
    with pytest.raises(promote.PromoteInterrupted) as err:
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=state)
    lines = str(err.value).splitlines()
    assert lines[0] == "promotion of db-2 stopped: db-1: no answer within 300 s"
    assert "done: db-2: is a replica" in lines
    assert any(
        line.startswith(
            "state: db-1: PostgreSQL stopped, not fenced (stopped done); pdic could "
            "not start it again"
        )
        and "the centre has no primary" in line
        for line in lines
    ), lines
    assert lines[-1].startswith(
        "to finish: make sure db-1 stays down, then `pdic db promote db-2 --resume --force`"
    )
    assert not hosts["db-2"].promoted  # nothing promoted while db-1's state is unknown
    # The printed command finishes it: db-1 stays unreachable, --force goes on.
    result = promote.promote(
        LAB, "db-2", lambda h: hosts[h.name], resume=True, force=True, state=state
    )
    assert hosts["db-2"].promoted and result.app_hosts == list(APPS)
    assert not state.exists()


def test_a_half_fenced_primary_that_answers_is_started_again(tmp_path: Path) -> None:
    state = tmp_path / "progress.json"
    hosts = _centre()
    hosts["db-1"].answers["systemctl mask"] = FakeResult(1, "", "Failed to mask unit")
    with pytest.raises(promote.PromoteInterrupted) as err:
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=state)
    assert any("systemctl start postgresql@15-main" in c for c in hosts["db-1"].commands)
    assert "state: db-1 is the primary again, as before; db-2 is still a replica" in str(err.value)
    assert not hosts["db-2"].promoted and not state.exists()


def test_replica_dropping_at_pg_promote_after_the_fence_is_said_and_resumed(
    tmp_path: Path,
) -> None:
    state = tmp_path / "progress.json"
    hosts = _centre(new_drop="pg_promote")
    with pytest.raises(promote.PromoteInterrupted) as err:
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=state)
    text = str(err.value)
    assert "done: db-1: fenced (stopped, postgresql@15-main masked" in text
    assert "db-2 not promoted (or not known to be): the centre has no primary" in text
    assert text.splitlines()[-1] == "to finish: `pdic db promote db-2 --resume` once db-2 answers"
    fenced = len(hosts["db-1"].commands)
    # db-2 answers again: the resume promotes it and fences nothing twice.
    hosts["db-2"].drop_at = None
    hosts["db-2"].dropped = False
    result = promote.promote(LAB, "db-2", lambda h: hosts[h.name], resume=True, state=state)
    assert hosts["db-2"].promoted and len(hosts["db-1"].commands) == fenced
    assert result.app_hosts == list(APPS) and not state.exists()


def test_an_application_host_dropping_is_left_to_the_resume(tmp_path: Path) -> None:
    state = tmp_path / "progress.json"
    hosts = _centre(app_drop="eoffice-1")
    result = promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=state)
    assert result.app_hosts == ["portal-1", "hcc-1"] and set(result.failed_hosts) == {"eoffice-1"}
    assert "finish with `pdic db promote db-2 --resume`" in result.steps[-1]
    hosts["eoffice-1"] = Scripted("eoffice-1", {})
    again = promote.promote(LAB, "db-2", lambda h: hosts[h.name], resume=True, state=state)
    assert again.app_hosts == list(APPS) and again.failed_hosts == {}
    assert hosts["portal-1"].commands.__len__() == 1  # not repointed twice
    assert not state.exists()


def test_a_new_promotion_waits_for_the_interrupted_one(tmp_path: Path) -> None:
    state = tmp_path / "progress.json"
    hosts = _centre(new_drop="pg_promote")
    with pytest.raises(promote.PromoteInterrupted):
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=state)
    with pytest.raises(
        DbError, match=r"was interrupted: finish it with `pdic db promote db-2 --resume`"
    ):
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=state)
    state.unlink()
    with pytest.raises(DbError, match="no interrupted promotion of db-2 to resume"):
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], resume=True, state=state)


def test_an_unreachable_replica_changes_nothing(tmp_path: Path) -> None:
    hosts = _centre(new_drop="pg_is_in_recovery")
    with pytest.raises(
        DbError,
        match=r"^db-2: cannot be checked: db-2: no answer within 300 s; "
        "nothing was changed$",
    ):
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=tmp_path / "p.json")
    assert hosts["db-1"].commands == []


def test_the_cli_prints_the_state_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pdic.cli import main

    hosts = _centre(new_drop="pg_promote")
    monkeypatch.setattr("pdic.connect.testinfra_host", lambda h: hosts[h.name])
    assert main(["db", "promote", "db-2"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "pdic: error: promotion of db-2 stopped: db-2: no answer within 300 s"
    assert err[-1] == "pdic: error: to finish: `pdic db promote db-2 --resume` once db-2 answers"


def test_a_resume_finds_the_replica_promoted_by_the_lost_command(tmp_path: Path) -> None:
    # pg_promote was sent as the link dropped; it ran when the link came back.
    state = tmp_path / "progress.json"
    hosts = _centre(new_drop="pg_promote")
    with pytest.raises(promote.PromoteInterrupted):
        promote.promote(LAB, "db-2", lambda h: hosts[h.name], state=state)
    replica = hosts["db-2"]
    replica.drop_at, replica.dropped, replica.promoted = None, False, True
    result = promote.promote(LAB, "db-2", lambda h: hosts[h.name], resume=True, state=state)
    assert "db-2: already accepts writes (promoted by the interrupted run)" in result.steps
    assert not any("pg_promote" in c for c in replica.commands if not c.startswith("LOST"))
    assert result.app_hosts == list(APPS) and not state.exists()
