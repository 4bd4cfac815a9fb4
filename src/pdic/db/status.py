"""`pdic db status`: each database host's role and lag, the last backup and the last drill.

Primary: ``pg_stat_replication`` gives every replica's lag in bytes (sent WAL not yet replayed)
and seconds (``replay_lag``). Replica: ``pg_is_in_recovery()``, the bytes received but not yet
replayed and the age of the last replayed transaction. Repository host: ``pgbackrest info
--output=json`` (last backup of each stanza) and the backup state file (last drill).

It reads only; a host that cannot be reached is reported as such, the others still are.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pdic.db.common import STATE_FILE, Connect, DbError, run, sql, topology
from pdic.inventory import Inventory

NODE_SQL = "SELECT pg_is_in_recovery()"
PRIMARY_SQL = (
    "SELECT application_name, coalesce(client_addr::text, ''), state, "
    "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, "
    "coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication ORDER BY 1"
)
REPLICA_SQL = (
    "SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)"
    "::bigint, CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END, "
    "(SELECT status FROM pg_stat_wal_receiver)"
)


@dataclass(frozen=True)
class Replication:
    name: str
    address: str
    state: str
    lag_bytes: int
    lag_seconds: float


@dataclass
class Node:
    host: str
    declared: str
    actual: str = "unreachable"
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    receiver: str = ""
    replicas: list[Replication] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Backup:
    stanza: str
    status: str
    label: str = ""
    kind: str = ""
    stop: float = 0.0
    size: int = 0
    last_drill: float = 0.0


@dataclass
class DbStatus:
    nodes: list[Node]
    backups: list[Backup]
    repository_error: str = ""


def parse_replication(rows: list[list[str]]) -> list[Replication]:
    """Rows of :data:`PRIMARY_SQL`."""
    return [
        Replication(r[0], r[1], r[2], int(float(r[3] or 0)), float(r[4] or 0))
        for r in rows
        if len(r) >= 5
    ]


def parse_replica(row: list[str]) -> tuple[int, float, str]:
    """A row of :data:`REPLICA_SQL`: bytes behind, seconds behind, WAL receiver status."""
    return int(float(row[0] or 0)), float(row[1] or 0), row[2] if len(row) > 2 else ""


def parse_pgbackrest_info(text: str, state: Mapping[str, Any] | None = None) -> list[Backup]:
    """Each stanza of ``pgbackrest info --output=json`` with its newest backup and last drill."""
    try:
        stanzas = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DbError(f"pgbackrest info did not print JSON: {exc}") from None
    drills = (state or {}).get("stanzas", {}) if isinstance(state, Mapping) else {}
    out = []
    for stanza in stanzas:
        name = str(stanza.get("name", "?"))
        drill = float((drills.get(name) or {}).get("last_drill_success", 0) or 0)
        status = str((stanza.get("status") or {}).get("message", "?"))
        backups = stanza.get("backup") or []
        if not backups:
            out.append(Backup(name, status, last_drill=drill))
            continue
        last = max(backups, key=lambda b: (b.get("timestamp") or {}).get("stop", 0))
        out.append(
            Backup(
                name,
                status,
                label=str(last.get("label", "")),
                kind=str(last.get("type", "")),
                stop=float((last.get("timestamp") or {}).get("stop", 0)),
                size=int((last.get("info") or {}).get("size", 0)),
                last_drill=drill,
            )
        )
    return out


def collect(inventory: Inventory, connect: Connect) -> DbStatus:
    """The status of every database host and of the repository."""
    topo = topology(inventory)
    nodes = []
    for host in (topo.primary, *topo.replicas):
        node = Node(host.name, str(host.get("postgresql_role")))
        try:
            target = connect(host)
            recovery = sql(target, NODE_SQL, what=f"{host.name}: psql")[0][0] == "t"
            node.actual = "replica" if recovery else "primary"
            if recovery:
                row = sql(target, REPLICA_SQL, what=f"{host.name}: replica lag")[0]
                node.lag_bytes, node.lag_seconds, node.receiver = parse_replica(row)
            else:
                rows = sql(target, PRIMARY_SQL, what=f"{host.name}: pg_stat_replication")
                node.replicas = parse_replication(rows)
        except Exception as exc:
            node.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        nodes.append(node)
    backups: list[Backup] = []
    error = ""
    if topo.repository is None:
        error = "no host in group backup"
    else:
        try:
            repo = connect(topo.repository)
            info = run(
                repo,
                "runuser -u postgres -- pgbackrest --output=json info",
                what=f"{topo.repository.name}: pgbackrest info",
            )
            state_text = repo.run("cat -- %s", STATE_FILE).stdout or "{}"
            try:
                state = json.loads(state_text)
            except json.JSONDecodeError:
                state = {}
            backups = parse_pgbackrest_info(info, state)
        except Exception as exc:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DbStatus(nodes, backups, error)


def _when(ts: float, now: dt.datetime) -> str:
    if not ts:
        return "never"
    at = dt.datetime.fromtimestamp(ts, dt.UTC)
    hours = (now - at).total_seconds() / 3600
    return f"{at:%Y-%m-%d %H:%M} UTC ({hours:.1f} h ago)"


def format_status(status: DbStatus, now: dt.datetime) -> str:
    """Plain lines for a terminal or a log."""
    lines = []
    for n in status.nodes:
        if n.error:
            lines.append(f"{n.host}: {n.declared} (declared): unreachable: {n.error}")
            continue
        flag = "" if n.actual == n.declared else f" (inventory says {n.declared})"
        if n.actual == "primary":
            lines.append(f"{n.host}: primary{flag}, {len(n.replicas)} replica(s) streaming")
            for r in n.replicas:
                lines.append(
                    f"  -> {r.name} {r.address} {r.state}: lag {r.lag_bytes} bytes, "
                    f"{r.lag_seconds:.1f} s"
                )
        else:
            lines.append(
                f"{n.host}: replica{flag}, receiver {n.receiver or 'down'}, lag "
                f"{n.lag_bytes} bytes, {n.lag_seconds or 0:.1f} s"
            )
    if status.repository_error:
        lines.append(f"backups: unknown: {status.repository_error}")
    for b in status.backups:
        last = f"{b.kind} {b.label}, {_when(b.stop, now)}" if b.label else "none"
        lines.append(f"stanza {b.stanza}: {b.status}; last backup {last}")
        lines.append(f"stanza {b.stanza}: last restore drill {_when(b.last_drill, now)}")
    return "\n".join(lines) + "\n"
