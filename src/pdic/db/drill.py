"""`pdic db restore-drill`: restore a backup into a scratch instance and prove it is right.

The scratch instance lives on the repository host: a temporary data directory under
/var/tmp, its own port (:data:`SCRATCH_PORT`) and socket directory, no TCP listener, WAL
archiving off (it never writes into the repository), started with ``pg_ctl`` as postgres. It is
always stopped and removed at the end, whatever happened.

What the restore is compared with (the reference):

- Without ``--target``: the latest backup plus the archived WAL up to an exact point taken from
  a replica. The drill pauses WAL replay on a replica, reads the position it stopped at (L),
  takes every table's row count and checksum there (the replica holds exactly the source's data
  as of L), resumes replay, has pgBackRest check that the WAL up to there is archived, then
  restores with ``recovery_target_lsn = L``. Both sides have then applied the same WAL, so
  every table must match exactly, across all databases at once, without locking the primary.
  It needs one replica; the pause lasts as long as the checksums take.
- With ``--target TIME`` (point in time): nothing on the source still shows its past state, so
  the reference is the recovery itself: the restore must end by reaching the target (the
  server's log says "recovery stopping before ... time T'" with T' after TIME, and no
  transaction replayed is later than TIME). Row counts and checksums of the restored tables are
  reported; a table with a timestamp column lets the caller compare them with the source's rows
  up to TIME (the lab test does exactly that).

A drill that succeeds is recorded on the repository host in the backup state file (the pdic
exporter's ``pdic_restore_drill_last_success_timestamp_seconds``) and in the restore-drill
record the compliance check reads.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pdic.db.common import (
    DEFAULT_STANZA,
    PSQL,
    STATE_FILE,
    Connect,
    DbError,
    run,
    sql,
    topology,
)
from pdic.inventory import Inventory

SCRATCH_PORT = 55432
SCRATCH_ROOT = "/var/tmp"
PG_BIN = "/usr/lib/postgresql/15/bin"
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"

# Every ordinary or partitioned table outside the system schemas, with a query giving its row
# count and an order-independent checksum of its rows (md5 of the sorted md5s of each row's
# text form); psql's \gexec runs each generated query.
# Rows are compared as text: every setting that changes how a value prints is fixed first
# (the scratch instance runs in GMT, the database hosts in the centre's time zone).
CHECKSUM_SQL = r"""SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SELECT format(
  'SELECT %L, count(*), '
  'coalesce(md5(string_agg(md5(t::text), '''' ORDER BY md5(t::text))), '''') FROM %I.%I t',
  n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND NOT c.relispartition
ORDER BY 1
\gexec
"""

STOP_RE = re.compile(
    r"recovery stopping (?:before|after) (?:commit|abort) of transaction \d+, "
    r"time (?P<time>[0-9:. +-]+)"
)
LAST_RE = re.compile(r"last completed transaction was at log time (?P<time>[0-9:. +-]+)")
LSN_RE = re.compile(r"^[0-9A-F]+/[0-9A-F]+$")
STANZA_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
"""A stanza name as pgBackRest's configuration sections and this drill's paths can hold it."""

Checksums = dict[str, tuple[int, str]]  # "database:schema.table" -> (rows, checksum)


@dataclass
class DrillResult:
    stanza: str
    target: str
    reference: str
    tables: Checksums = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    recovery_stop: str = ""
    last_transaction: str = ""
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return not self.differences

    def as_json(self) -> dict[str, Any]:
        return {
            "stanza": self.stanza,
            "target": self.target,
            "reference": self.reference,
            "success": self.success,
            "differences": self.differences,
            "recovery_stop": self.recovery_stop,
            "last_transaction": self.last_transaction,
            "seconds": round(self.seconds, 1),
            "tables": {k: {"rows": v[0], "checksum": v[1]} for k, v in sorted(self.tables.items())},
        }


def parse_checksums(database: str, text: str) -> Checksums:
    """Lines ``schema.table|rows|checksum`` (from :data:`CHECKSUM_SQL`) of one database."""
    out: Checksums = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].isdigit():
            out[f"{database}:{parts[0]}"] = (int(parts[1]), parts[2])
    return out


def compare(reference: Checksums, restored: Checksums) -> list[str]:
    """One line per table that is missing, extra or different (rows, then checksum)."""
    problems = []
    for table in sorted(set(reference) | set(restored)):
        if table not in restored:
            problems.append(f"{table}: missing from the restore")
        elif table not in reference:
            problems.append(f"{table}: in the restore but not in the source")
        elif reference[table][0] != restored[table][0]:
            problems.append(
                f"{table}: {restored[table][0]} rows restored, {reference[table][0]} in the source"
            )
        elif reference[table][1] != restored[table][1]:
            problems.append(f"{table}: same row count, different content (checksum)")
    return problems


def check_stanza(value: str) -> str:
    """``--stanza``: letters, digits and inner ``_ . -``, at most 63 (it goes into commands,
    paths and the scratch server's restore_command)."""
    if not STANZA_RE.fullmatch(value):
        raise DbError(
            f"--stanza: {value!r} is not a stanza name (letters, digits, _ . -; at most 63)"
        )
    return value


def parse_target(value: str) -> dt.datetime:
    """``--target``: an ISO 8601 time; without a zone it is taken as UTC."""
    try:
        when = dt.datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise DbError(
            f"--target: {value!r} is not a time (ISO 8601, e.g. 2026-03-01T10:15:00+07:00)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def parse_recovery_log(log: str) -> tuple[str, str]:
    """Where recovery stopped and the last transaction it replayed, from the server's log."""
    stop = STOP_RE.search(log)
    last = LAST_RE.search(log)
    return (stop["time"].strip() if stop else "", last["time"].strip() if last else "")


def _pg_time(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def check_pitr(target: dt.datetime, stop: str, last: str) -> list[str]:
    """A point-in-time restore must stop at its target: nothing replayed after it."""
    problems = []
    last_at = _pg_time(last) if last else None
    stop_at = _pg_time(stop) if stop else None
    if stop_at is None:
        problems.append(
            "recovery did not report stopping at the target (is the target after the last "
            "archived transaction, or before the backup?)"
        )
    elif stop_at <= target:
        problems.append(f"recovery stopped at {stop}, not after the target {target.isoformat()}")
    if last_at is not None and last_at > target:
        problems.append(
            f"a transaction of {last} was replayed, after the target {target.isoformat()}"
        )
    return problems


def scratch_config(base: str, data_dir: str) -> str:
    """The drill's pgbackrest.conf: the repository host's without the pg hosts, restoring into
    ``data_dir`` (shell script run on the repository host; the file holds the cipher key)."""
    conf = f"{data_dir}.pgbackrest.conf"
    return (
        f"umask 077 && sed -e '/^pg[0-9]*-/d' -e '/^tls-server-/d' {shlex.quote(base)} "
        f"> {shlex.quote(conf)} && printf 'pg1-path=%s\\npg1-port={SCRATCH_PORT}\\n' "
        f"{shlex.quote(data_dir)} >> {shlex.quote(conf)} && chown postgres: {shlex.quote(conf)}"
    )


def restore_argv(
    stanza: str, data_dir: str, *, target_lsn: str = "", target_time: str = ""
) -> list[str]:
    """The pgBackRest restore of the drill (as postgres, with the drill's configuration)."""
    conf = f"{data_dir}.pgbackrest.conf"
    argv = ["pgbackrest", f"--config={conf}", f"--stanza={stanza}", f"--pg1-path={data_dir}"]
    if target_lsn:
        argv += ["--type=lsn", f"--target={target_lsn}"]
    elif target_time:
        argv += ["--type=time", f"--target={target_time}"]
    else:
        argv += ["--type=immediate"]
    restore_command = f'pgbackrest --config={conf} --stanza={stanza} archive-get %f "%p"'
    argv += [
        "--target-action=promote",
        "--archive-mode=off",
        f"--recovery-option=restore_command={restore_command}",
        "restore",
    ]
    return argv


# pg_controldata's names of the settings a recovering server must have at least as high as
# the primary had (else: "recovery aborted because of insufficient parameter settings").
_CONTROL_SETTINGS = {
    "max_connections setting": "max_connections",
    "max_worker_processes setting": "max_worker_processes",
    "max_wal_senders setting": "max_wal_senders",
    "max_prepared_xacts setting": "max_prepared_transactions",
    "max_locks_per_xact setting": "max_locks_per_transaction",
}


def primary_settings(controldata: str) -> dict[str, int]:
    """The primary's values of the settings recovery needs, from ``pg_controldata``."""
    out = {}
    for line in controldata.splitlines():
        label, _, value = line.partition(":")
        name = _CONTROL_SETTINGS.get(label.strip())
        if name and value.strip().isdigit():
            out[name] = int(value.strip())
    return out


def scratch_settings(data_dir: str, primary: dict[str, int] | None = None) -> str:
    """postgresql.conf of the scratch instance (the backup has Debian's in /etc, not here),
    with the primary's values where recovery needs them at least as high."""
    settings = {"max_connections": 20, "max_wal_senders": 10}
    settings.update(primary or {})
    return (
        f"port = {SCRATCH_PORT}\nlisten_addresses = ''\n"
        f"unix_socket_directories = '{data_dir}'\nhba_file = '{data_dir}/pg_hba.conf'\n"
        f"ident_file = '{data_dir}/pg_ident.conf'\nssl = off\narchive_mode = off\n"
        "shared_buffers = 128MB\nhot_standby = on\nmax_replication_slots = 10\n"
        "logging_collector = off\n"
        + "".join(f"{name} = {value}\n" for name, value in sorted(settings.items()))
        + "include_if_exists = 'postgresql.auto.conf'\n"
    )


@dataclass
class _Ctx:
    repo: Any
    data_dir: str
    steps: list[str]
    say: Callable[[str], None]

    def step(self, text: str) -> None:
        self.steps.append(text)
        self.say(text)


# Every database a client can connect to, not only those the inventory declares: a database
# made by hand (or by an application) is restored too and must match as well.
CLUSTER_DATABASES_SQL = (
    "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
    "AND datname <> 'postgres' ORDER BY 1"
)


def cluster_databases(declared: list[str], rows: list[list[str]]) -> list[str]:
    """The inventory's databases and those the cluster has, each once, in order."""
    return sorted({*declared, *(row[0] for row in rows if row and row[0])})


def _checksums(host: Any, databases: list[str], *, socket: str = "", what: str) -> Checksums:
    out: Checksums = {}
    target = f"-h {shlex.quote(socket)} -p {SCRATCH_PORT}" if socket else ""
    for database in databases:
        text = run(
            host,
            f"printf '%%s' %s | {PSQL} {target} -d %s",
            CHECKSUM_SQL,
            database,
            what=f"{what}: checksums of {database}",
        )
        out.update(parse_checksums(database, text))
    return out


def run_drill(
    inventory: Inventory,
    connect: Connect,
    *,
    stanza: str = DEFAULT_STANZA,
    target: str | None = None,
    say: Callable[[str], None] = lambda _: None,
    clock: Callable[[], float] = time.time,
) -> DrillResult:
    """Restore, compare, record; the scratch instance is always removed."""
    check_stanza(stanza)
    target_at = None if target is None else parse_target(target)
    topo = topology(inventory)
    if topo.repository is None:
        raise DbError(f"{inventory.path}: no host in group backup to restore on")
    if target_at is None and not topo.replicas:
        raise DbError(
            "a drill without --target takes its reference from a replica: group db has none"
        )
    databases = [
        str(d["name"])
        for d in inventory.vars.get("postgresql_databases") or []
        if isinstance(d, Mapping) and d.get("name")
    ]
    started = clock()
    repo = connect(topo.repository)
    stamp = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y%m%dT%H%M%S")
    data_dir = f"{SCRATCH_ROOT}/pdic-drill-{stanza}-{stamp}"
    ctx = _Ctx(repo, data_dir, [], say)
    result = DrillResult(stanza, target or "latest", "")

    reference: Checksums = {}
    lsn = ""
    if target_at is None:
        replica = connect(topo.replicas[0])
        name = topo.replicas[0].name
        result.reference = f"{name} paused at the restore's target position"
        ctx.step(f"{name}: WAL replay paused")
        sql(replica, "SELECT pg_wal_replay_pause()", what=f"{name}: pause replay")
        try:
            for _ in range(60):
                state = sql(
                    replica, "SELECT pg_get_wal_replay_pause_state()", what=f"{name}: pause state"
                )
                if state and state[0][0] == "paused":
                    break
                time.sleep(1)
            else:
                raise DbError(f"{name}: WAL replay did not pause within 60 s")
            lsn = sql(replica, "SELECT pg_last_wal_replay_lsn()", what=f"{name}: replay position")[
                0
            ][0]
            if not LSN_RE.match(lsn):
                raise DbError(f"{name}: unexpected replay position {lsn!r}")
            databases = cluster_databases(
                databases, sql(replica, CLUSTER_DATABASES_SQL, what=f"{name}: databases")
            )
            ctx.step(f"{name}: checksums at {lsn} of {len(databases)} databases")
            reference = _checksums(replica, databases, what=name)
        finally:
            sql(replica, "SELECT pg_wal_replay_resume()", what=f"{name}: resume replay")
            ctx.step(f"{name}: WAL replay resumed")
    else:
        result.reference = "recovery target reached; no transaction replayed after it"
    # The WAL up to now (the replica's position, or the point-in-time target) is archived
    # before restoring: what the restore replays must be in the repository.
    ctx.step(f"{topo.repository.name}: pgbackrest check (WAL up to {lsn or 'now'} archived)")
    run(
        repo,
        f"runuser -u postgres -- pgbackrest --stanza={shlex.quote(stanza)} check",
        what=f"{topo.repository.name}: pgbackrest check",
    )

    try:
        ctx.step(f"{topo.repository.name}: scratch instance in {data_dir}, port {SCRATCH_PORT}")
        run(
            repo,
            "install -d -o postgres -g postgres -m 0700 %s",
            data_dir,
            what="scratch directory",
        )
        run(repo, scratch_config(PGBACKREST_CONF, data_dir), what="drill configuration")
        argv = restore_argv(
            stanza,
            data_dir,
            target_lsn=lsn,
            target_time=target_at.isoformat(sep=" ") if target_at else "",
        )
        ctx.step(f"{topo.repository.name}: restore ({'lsn ' + lsn if lsn else result.target})")
        run(
            repo,
            "runuser -u postgres -- " + " ".join(shlex.quote(a) for a in argv),
            what="pgbackrest restore",
        )
        primary = primary_settings(
            run(repo, f"{PG_BIN}/pg_controldata -D %s", data_dir, what="pg_controldata")
        )
        run(
            repo,
            "runuser -u postgres -- sh -c %s",
            f"umask 077; printf %s {shlex.quote(scratch_settings(data_dir, primary))} "
            f"> {data_dir}/postgresql.conf; "
            f"echo 'local all postgres peer' > {data_dir}/pg_hba.conf; "
            f": > {data_dir}/pg_ident.conf",
            what="scratch configuration",
        )
        ctx.step(f"{topo.repository.name}: scratch instance started (pg_ctl), recovering")
        started_scratch = repo.run(
            f"runuser -u postgres -- {PG_BIN}/pg_ctl -D %s -l %s -w -t 3600 start",
            data_dir,
            f"{data_dir}.log",
        )
        if started_scratch.rc != 0:  # pg_ctl says "examine the log output": the log says why
            tail = repo.run("tail -n 12 -- %s", f"{data_dir}.log").stdout.strip().splitlines()
            raise DbError(
                "the scratch instance did not start: "
                + (" | ".join(tail) or started_scratch.stderr.strip() or "no log")
            )
        for _ in range(3600):
            rows = sql(
                repo,
                "SELECT pg_is_in_recovery()",
                what="scratch instance",
                extra=f"-h {shlex.quote(data_dir)} -p {SCRATCH_PORT}",
            )
            if rows and rows[0][0] == "f":
                break
            time.sleep(1)
        else:
            raise DbError("the scratch instance did not finish recovery within an hour")
        log = run(repo, "cat -- %s", f"{data_dir}.log", what="scratch log")
        result.recovery_stop, result.last_transaction = parse_recovery_log(log)
        if target_at is not None:  # no reference host: what the restored cluster holds
            databases = cluster_databases(
                databases,
                sql(
                    repo,
                    CLUSTER_DATABASES_SQL,
                    what="scratch instance: databases",
                    extra=f"-h {shlex.quote(data_dir)} -p {SCRATCH_PORT}",
                ),
            )
        ctx.step(f"{topo.repository.name}: checksums of the restored databases")
        result.tables = _checksums(repo, databases, socket=data_dir, what="scratch instance")
    finally:
        ctx.step(f"{topo.repository.name}: scratch instance stopped and removed")
        repo.run(f"runuser -u postgres -- {PG_BIN}/pg_ctl -D %s -m immediate -w stop", data_dir)
        repo.run("rm -rf -- %s %s %s", data_dir, f"{data_dir}.log", f"{data_dir}.pgbackrest.conf")

    if target_at is None:
        result.differences = compare(reference, result.tables)
    else:
        result.differences = check_pitr(target_at, result.recovery_stop, result.last_transaction)
    result.steps = ctx.steps
    result.seconds = clock() - started
    if result.success:
        detail = json.dumps(
            {
                "target": result.target,
                "tables": len(result.tables),
                "seconds": round(result.seconds, 1),
            }
        )
        run(
            repo,
            "/usr/local/sbin/pdic-backup-state --file %s drill %s %s --detail %s",
            STATE_FILE,
            stanza,
            str(int(clock())),
            detail,
            what="recording the drill",
        )
        ctx.step(f"{topo.repository.name}: drill recorded in {STATE_FILE}")
    return result
