"""Backup checks: a recent backup exists, backup jobs are scheduled, a restore drill is recorded.

The restore-drill record is a small JSON file (``{"date": "YYYY-MM-DD", "result": "ok", ...}``)
that the drill writes on the backup host; this module only reads it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from pdic.compliance.checks.base import CheckOutcome, HostLike, Probe, as_int, check, stale_paths

PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
PGBACKREST_INFO = "runuser -u postgres -- pgbackrest info --output=json"
# Only the section lines of pgbackrest.conf ([global], [main], ...): its options hold the
# repository's cipher pass on a host that is both db and backup, and the audit never reads them.
SECTION_LINES = r"^[[:space:]]*\[[^]]*\][[:space:]]*$"
PGBACKREST_SECTIONS = "grep -E -- %s %s"


def stanza_names(conf: str) -> list[str]:
    """The stanzas of a pgbackrest.conf: its sections except ``global`` and ``global:CMD``."""
    names = []
    for line in conf.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            if name and name.split(":", 1)[0] != "global" and name not in names:
                names.append(name)
    return names


@check("backups_pgbackrest_recent")
def backups_pgbackrest_recent(host: HostLike, *, max_age_hours: int = 26) -> CheckOutcome:
    """Every pgBackRest stanza has a backup that finished within ``max_age_hours``."""
    probe = Probe(host)
    # A database host reaches the repository through pgBackRest's TLS server, which lets it
    # see only its own stanzas: `info` is asked per stanza of the host's configuration
    # (without --stanza the server refuses the listing: "access denied").
    sections = probe.run(PGBACKREST_SECTIONS, SECTION_LINES, PGBACKREST_CONF)
    names = stanza_names(sections.stdout) if sections.rc == 0 else []
    commands = [f"{PGBACKREST_INFO} --stanza={name}" for name in names] or [PGBACKREST_INFO]
    stanzas = []
    for command in commands:
        result = probe.run(command)
        if result.rc != 0:
            return probe.error(f"pgbackrest info failed: {result.stderr.strip()[:200]}")
        try:
            stanzas.extend(json.loads(result.stdout))
        except json.JSONDecodeError:
            return probe.error("pgbackrest info did not print JSON")
    now = as_int(probe.run("date +%s").stdout.strip())
    if now is None:
        return probe.error("the host's clock could not be read")
    if not stanzas:
        return probe.failed("no pgBackRest stanza")
    problems = []
    for stanza in stanzas:
        stops = [b.get("timestamp", {}).get("stop", 0) for b in stanza.get("backup", [])]
        if not stops:
            problems.append(f"stanza {stanza.get('name')}: no backup")
            continue
        hours = (now - max(stops)) / 3600
        if hours > max_age_hours:
            problems.append(f"stanza {stanza.get('name')}: last backup {hours:.0f} h ago")
    return probe.verdict(problems, f"{len(stanzas)} stanzas backed up < {max_age_hours} h ago")


@check("backups_repository_recent")
def backups_repository_recent(
    host: HostLike, *, paths: Sequence[str] = ("/srv/backup",), max_age_hours: int = 26
) -> CheckOutcome:
    """Each backup repository received a file within ``max_age_hours``."""
    probe = Probe(host)
    problems = stale_paths(probe, paths, max_age_hours, "written")
    return probe.verdict(problems, f"recent backups in {list(paths)}")


@check("backups_timers_scheduled")
def backups_timers_scheduled(
    host: HostLike, *, patterns: Sequence[str] = ("pgbackrest", "restic", "borg")
) -> CheckOutcome:
    """A systemd timer schedules a backup job (its unit name has one of ``patterns``)."""
    probe = Probe(host)
    timers = probe.run("systemctl list-timers --all --no-legend --plain").stdout
    found = [line for line in timers.splitlines() if any(p in line for p in patterns)]
    return probe.verdict(
        [] if found else [f"no timer for {list(patterns)}"], f"{len(found)} backup timers"
    )


@check("backups_restore_drill_recent")
def backups_restore_drill_recent(
    host: HostLike,
    *,
    record: str = "/var/lib/pdic/restore-drill.json",
    max_age_days: int = 90,
) -> CheckOutcome:
    """A successful restore drill is recorded within ``max_age_days`` days."""
    probe = Probe(host)
    result = probe.run("cat -- %s", record)
    today = probe.run("date +%F").stdout.strip()
    if result.rc != 0:
        return probe.failed(f"no restore drill record ({record})")
    try:
        data = json.loads(result.stdout)
        when = dt.date.fromisoformat(str(data["date"]))
        now = dt.date.fromisoformat(today)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return probe.error(f"{record} is not a drill record with a date")
    problems = []
    if data.get("result") != "ok":
        problems.append(f"last drill result is {data.get('result')!r}")
    age = (now - when).days
    if age > max_age_days:
        problems.append(f"last drill {age} days ago, must be <= {max_age_days}")
    return probe.verdict(problems, f"restore drill ok on {when} ({age} days ago)")
