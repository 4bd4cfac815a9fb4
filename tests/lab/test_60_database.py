"""Databases on the lab: replication, TLS access by group, backups and drills, promotion.

Written to the issue: a row written on db-1 is read on db-2 within seconds; an application
host connects as its role over TLS with verify-full and a host outside the role's groups is
refused; a backup is taken, 1,000 rows are written after it, and a point-in-time drill to a
moment between them restores exactly the rows up to that moment; ``pdic db promote db-2`` makes
db-2 accept writes and the e-office host's configured primary is db-2. Promotion changes the
topology the other tests rely on, so it runs last in this file and puts the original topology
back (db-1 rebuilt as a replica, then promoted again, through the same commands). Idempotence
is covered by the whole-site tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from conftest import INVENTORY, Run, pdic

DOMAIN = yaml.safe_load((INVENTORY / "group_vars" / "all" / "centre.yml").read_text())[
    "pdic_domain"
]
ROOT_NAME = yaml.safe_load((INVENTORY / "group_vars" / "all" / "pki.yml").read_text())[
    "pki_ca_root"
]["name"]
ROOT_CA = f"/usr/local/share/ca-certificates/pdic/{ROOT_NAME}.crt"
VAULT_PASSWORD = "/var/lib/pdic-lab/vault-password"
PSQL = "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1"


def vault_value(name: str) -> str:
    from pdic.secrets import VAULT_FILE, read_vault

    return str(read_vault(INVENTORY / VAULT_FILE, Path(VAULT_PASSWORD))[name])


def psql(host, query: str, database: str = "vanban") -> str:  # type: ignore[no-untyped-def]
    return host.check_output(f"{PSQL} -d %s -c %s", database, query)


def app_connect(host, role: str, database: str, query: str):  # type: ignore[no-untyped-def]
    """psql on an application host as ``role`` over TLS, verifying db-1's name and chain."""
    conninfo = (
        f"host=db-1.{DOMAIN} port=5432 dbname={database} user={role} "
        f"sslmode=verify-full sslrootcert={ROOT_CA}"
    )
    return host.run(
        "PGPASSWORD=%s psql -XAtq -d %s -c %s",
        vault_value(f"vault_postgresql_password_{role}"),
        conninfo,
        query,
    )


@pytest.fixture(scope="module")
def table(connect, deployed: Run) -> str:  # type: ignore[no-untyped-def]
    """A table owned by vanban's owner, which vanban_app may write (default privileges)."""
    db1 = connect("db-1")
    psql(
        db1,
        "SET ROLE vanban_owner; CREATE TABLE IF NOT EXISTS public.lab_drill "
        "(id bigserial PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
        "note text)",
    )
    return "public.lab_drill"


def test_a_row_written_on_the_primary_is_read_on_the_replica(connect, table: str) -> None:  # type: ignore[no-untyped-def]
    marker = f"replicated-{time.time_ns()}"
    psql(connect("db-1"), f"INSERT INTO {table} (note) VALUES ('{marker}')")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if psql(connect("db-2"), f"SELECT count(*) FROM {table} WHERE note = '{marker}'") == "1":
            return
        time.sleep(0.2)
    pytest.fail("the row did not reach db-2 within 10 s")


def test_replica_is_in_recovery_with_its_slot(connect) -> None:  # type: ignore[no-untyped-def]
    assert psql(connect("db-2"), "SELECT pg_is_in_recovery()", "postgres") == "t"
    slots = psql(connect("db-1"), "SELECT slot_name, active FROM pg_replication_slots", "postgres")
    assert "db_2|t" in slots


def test_application_host_connects_over_tls_with_its_role(connect, table: str) -> None:  # type: ignore[no-untyped-def]
    result = app_connect(
        connect("eoffice-1"),
        "vanban_app",
        "vanban",
        "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("t|TLSv1.")
    write = app_connect(
        connect("eoffice-1"),
        "vanban_app",
        "vanban",
        f"INSERT INTO {table} (note) VALUES ('from eoffice-1')",
    )
    assert write.rc == 0, write.stderr


def test_a_host_outside_the_roles_groups_is_refused(connect) -> None:  # type: ignore[no-untyped-def]
    result = app_connect(connect("portal-1"), "vanban_app", "vanban", "SELECT 1")
    assert result.rc != 0
    assert "no pg_hba.conf entry" in result.stderr


def test_plain_connections_are_refused(connect) -> None:  # type: ignore[no-untyped-def]
    result = connect("eoffice-1").run(
        "PGPASSWORD=%s psql -XAtq -d %s -c 'SELECT 1'",
        vault_value("vault_postgresql_password_vanban_app"),
        f"host=db-1.{DOMAIN} dbname=vanban user=vanban_app sslmode=disable",
    )
    assert result.rc != 0 and "no pg_hba.conf entry" in result.stderr


def test_exporter_reports_postgresql_up(connect) -> None:  # type: ignore[no-untyped-def]
    metrics = connect("mon-1").check_output("curl -fsS http://10.251.0.31:9187/metrics")
    assert "\npg_up 1" in "\n" + metrics


def test_point_in_time_drill_restores_exactly_the_rows_up_to_the_target(  # type: ignore[no-untyped-def]
    connect, table: str
) -> None:
    backup = connect("backup-1").run("systemctl start pgbackrest-backup@full.service")
    assert backup.rc == 0, backup.stderr
    state = json.loads(connect("backup-1").check_output("cat /var/lib/pdic/backup-state.json"))
    assert state["stanzas"]["main"]["last_success"] > time.time() - 600

    db1 = connect("db-1")
    psql(db1, f"INSERT INTO {table} (note) SELECT 'batch1-' || g FROM generate_series(1, 500) g")
    time.sleep(2)
    target = psql(
        db1,
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')',
    )
    time.sleep(2)
    psql(db1, f"INSERT INTO {table} (note) SELECT 'batch2-' || g FROM generate_series(1, 500) g")
    psql(db1, "SELECT pg_switch_wal()", "postgres")
    expected = psql(db1, f"SELECT count(*) FROM {table} WHERE written_at <= '{target}'")
    total = psql(db1, f"SELECT count(*) FROM {table}")
    assert int(total) - int(expected) == 500

    run = pdic("db", "restore-drill", "--target", target, "--json", timeout=1800)
    assert run.returncode == 0, run
    result = json.loads(run.stdout)
    assert result["success"], result
    assert result["tables"][f"vanban:{table}"]["rows"] == int(expected)
    # The scratch instance is gone, and the drill is recorded for the exporter and the audit.
    backup1 = connect("backup-1")
    assert backup1.check_output("ls /var/tmp | grep -c pdic-drill || true") == "0"
    state = json.loads(backup1.check_output("cat /var/lib/pdic/backup-state.json"))
    assert state["stanzas"]["main"]["last_drill_success"] > time.time() - 3600
    assert (
        json.loads(backup1.check_output("cat /var/lib/pdic/restore-drill.json"))["result"] == "ok"
    )


def test_latest_drill_matches_the_replica(table: str) -> None:
    run = pdic("db", "restore-drill", "--json", timeout=1800)
    assert run.returncode == 0, run
    assert json.loads(run.stdout)["differences"] == []


def test_status_shows_roles_lag_backup_and_drill() -> None:
    run = pdic("db", "status")
    assert run.returncode == 0, run
    assert "db-1: primary, 1 replica(s) streaming" in run.stdout
    assert "db-2: replica, receiver streaming" in run.stdout
    assert "last restore drill never" not in run.stdout


def _swap_roles() -> None:
    hosts = INVENTORY / "hosts.yml"
    text = hosts.read_text()
    text = (
        text.replace("postgresql_role: primary", "postgresql_role: @P")
        .replace("postgresql_role: replica", "postgresql_role: primary")
        .replace("postgresql_role: @P", "postgresql_role: replica")
    )
    hosts.write_text(text)


def _promote_with_db2_dropping_at_pg_promote(connect) -> str:  # type: ignore[no-untyped-def]
    """`pdic db promote db-2` whose replica's link on the bridge goes down as pg_promote is
    sent: what it prints, checked against the hosts, then the printed command finishes it."""
    from pdic.connect import testinfra_host
    from pdic.db.promote import PromoteInterrupted, promote
    from pdic.inventory import load_inventory
    from pdic.lab import set_link

    inventory = load_inventory(INVENTORY)

    class Dropping:
        def __init__(self, target) -> None:  # type: ignore[no-untyped-def]
            self.target = target

        def run(self, command: str, *args: str):  # type: ignore[no-untyped-def]
            if "pg_promote" in " ".join(args):
                set_link("db-2", False)
            return self.target.run(command, *args)

    def reach(host):  # type: ignore[no-untyped-def]
        target = testinfra_host(host, deadline=20)
        return Dropping(target) if host.name == "db-2" else target

    said: list[str] = []
    try:
        promote(inventory, "db-2", reach)
    except PromoteInterrupted as stopped:
        said = str(stopped).splitlines()
    finally:
        set_link("db-2", True)
    # What the hosts are now, read before the printed command finishes the promotion (which
    # runs whatever was asserted: a failed assertion must not leave the centre without a primary).
    old = connect("db-1")
    masked = old.run("systemctl is-enabled postgresql@15-main").stdout.strip()
    active = old.run("systemctl is-active postgresql@15-main").stdout.strip()
    fenced = old.file("/etc/pdic/db-fenced").exists
    primary = connect("eoffice-1").file("/etc/pdic/db-primary").content_string.strip()
    run = pdic("db", "promote", "db-2", "--resume")
    assert run.returncode == 0, (said, run)
    assert said, "the promotion went through with db-2 cut off"
    assert said[0].startswith("promotion of db-2 stopped: db-2: no answer within 20 s"), said
    assert (
        "done: db-1: fenced (stopped, postgresql@15-main masked, start.conf disabled, "
        "/etc/pdic/db-fenced)" in said
    ), said
    assert said[-1] == "to finish: `pdic db promote db-2 --resume` once db-2 answers", said
    # What it said of db-1 is what db-1 was; the applications still pointed at db-1.
    assert (masked, active != "active", fenced) == ("masked", True, True)
    assert primary == f"db-1.{DOMAIN}"
    return run.stdout


def test_promote_makes_db2_primary_and_points_the_applications_at_it(connect, table: str) -> None:  # type: ignore[no-untyped-def]
    hosts_before = (INVENTORY / "hosts.yml").read_text()
    resumed = _promote_with_db2_dropping_at_pg_promote(connect)
    try:
        assert "db-2: promoted, accepts writes" in resumed or "promoted by the interrupted run" in (
            resumed
        ), resumed
        psql(connect("db-2"), f"INSERT INTO {table} (note) VALUES ('after promotion')")
        assert (
            connect("eoffice-1").file("/etc/pdic/db-primary").content_string.strip()
            == f"db-2.{DOMAIN}"
        )
        assert (
            connect("db-1").run("systemctl is-active postgresql@15-main").stdout.strip() != "active"
        )
        # Back to the original topology through the documented path: inventory says db-2
        # primary, deploy rebuilds db-1 as its replica; then the same the other way round.
        _swap_roles()
        deploy = pdic("deploy", "--tags", "database")
        assert deploy.returncode == 0, deploy
        assert psql(connect("db-1"), "SELECT pg_is_in_recovery()", "postgres") == "t"
        back = pdic("db", "promote", "db-1")
        assert back.returncode == 0, back
    finally:
        (INVENTORY / "hosts.yml").write_text(hosts_before)
    deploy = pdic("deploy", "--tags", "database")
    assert deploy.returncode == 0, deploy
    assert psql(connect("db-2"), "SELECT pg_is_in_recovery()", "postgres") == "t"
    assert (
        connect("eoffice-1").file("/etc/pdic/db-primary").content_string.strip() == f"db-1.{DOMAIN}"
    )
