"""Logging checks: journald, auditd rules, retention, forwarding, time synchronisation, process
accounting and system activity (sysstat).

auditd and process accounting cannot run inside a container (the kernel's audit subsystem and
the acct() call are the host's): the catalogue marks those controls ``container:
not_applicable`` and the evaluator reports them so; the checks themselves just read
``auditctl -l`` and systemd.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pdic.compliance.checks.base import (
    CheckOutcome,
    HostLike,
    Probe,
    check,
    key_values,
    stale_paths,
    unit_running,
)

DAY = 86400
# systemd time spans (systemd.time(7)); month and year as systemd counts them.
_SYSTEMD_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": DAY,
    "day": DAY,
    "days": DAY,
    "w": 7 * DAY,
    "week": 7 * DAY,
    "weeks": 7 * DAY,
    "month": 2629800,
    "months": 2629800,
    "M": 2629800,
    "y": 31557600,
    "year": 31557600,
    "years": 31557600,
}


def systemd_seconds(value: str) -> float | None:
    """``3month``, ``90d``, ``1w 2d``, bare seconds -> seconds; None if unparsable or 0."""
    total = 0.0
    rest = value.strip()
    if not rest:
        return None
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", rest):
        factor = _SYSTEMD_UNITS.get(unit) if unit else 1
        if factor is None:
            return None
        total += float(number) * factor
    return total or None


def journald_settings(probe: Probe) -> dict[str, str]:
    """journald's effective settings, after every drop-in (systemd-analyze cat-config)."""
    return key_values(probe.run("systemd-analyze cat-config systemd/journald.conf").stdout)


@check("logging_journald_persistent")
def logging_journald_persistent(host: HostLike) -> CheckOutcome:
    """journald keeps logs on disk (Storage=persistent, or auto with /var/log/journal)."""
    probe = Probe(host)
    storage = journald_settings(probe).get("Storage", "auto")
    if storage == "persistent":
        return probe.passed("Storage=persistent")
    if storage == "auto" and probe.run("test -d /var/log/journal").rc == 0:
        return probe.passed("Storage=auto and /var/log/journal exists")
    return probe.failed(f"Storage={storage}: the journal is not kept on disk")


@check("logging_journald_retention")
def logging_journald_retention(host: HostLike, *, min_days: int = 90) -> CheckOutcome:
    """journald keeps entries at least ``min_days`` (MaxRetentionSec set to that or more)."""
    probe = Probe(host)
    value = journald_settings(probe).get("MaxRetentionSec", "")
    seconds = systemd_seconds(value)
    if seconds is None:
        return probe.failed(
            "MaxRetentionSec is not set: retention is bounded by size only and not declared"
        )
    days = seconds / DAY
    return probe.verdict(
        [f"MaxRetentionSec={value} is {days:.0f} days, must be >= {min_days}"]
        if days < min_days
        else [],
        f"MaxRetentionSec={value} ({days:.0f} days)",
    )


_PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}


def logrotate_retention(text: str) -> dict[str, float]:
    """Days each logrotate stanza keeps, from ``grep -H`` output over the config files.

    Global ``rotate``/frequency lines of logrotate.conf apply to every stanza that does not set
    its own; ``size``-only stanzas count with the frequency they inherit.
    """
    defaults = {"period": 7.0, "rotate": 0.0}
    stanzas: dict[str, float] = {}
    current: dict[str, float] | None = None
    name = ""
    for raw in text.splitlines():
        source, _, line = raw.partition(":")
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[-1] == "{":
            name = f"{source}: {' '.join(words[:-1])}"
            current = dict(defaults)
            continue
        if words[0] == "}":
            if current is not None:
                stanzas[name] = current["period"] * current["rotate"]
            current = None
            continue
        target = current if current is not None else defaults
        if words[0] in _PERIOD_DAYS:
            target["period"] = float(_PERIOD_DAYS[words[0]])
        elif words[0] == "rotate" and len(words) > 1 and words[1].lstrip("-").isdigit():
            target["rotate"] = float(words[1])
    return stanzas


@check("logging_logrotate_retention")
def logging_logrotate_retention(host: HostLike, *, min_days: int = 90) -> CheckOutcome:
    """Every rotated log is kept at least ``min_days`` (rotate count x period)."""
    probe = Probe(host)
    result = probe.run(
        "grep -HEs %s /etc/logrotate.conf /etc/logrotate.d/*",
        r"^[[:space:]]*(daily|weekly|monthly|yearly|rotate[[:space:]]|[^#]*\{|\})",
    )
    stanzas = logrotate_retention(result.stdout)
    if not stanzas:
        return probe.error("no logrotate stanza found")
    short = [f"{name} keeps {days:.0f} days" for name, days in stanzas.items() if days < min_days]
    return probe.verdict(
        [f"{len(short)} logs kept < {min_days} days: {short[:10]}"] if short else [],
        f"{len(stanzas)} logrotate stanzas keep >= {min_days} days",
    )


@check("logging_forwarded_central")
def logging_forwarded_central(host: HostLike) -> CheckOutcome:
    """Logs are forwarded to a central host (rsyslog omfwd/@@ or systemd-journal-upload)."""
    probe = Probe(host)
    upload = probe.run("systemctl is-active systemd-journal-upload.service")
    if upload.stdout.strip() == "active":
        return probe.passed("systemd-journal-upload is active")
    rsyslog = probe.run("systemctl is-active rsyslog.service")
    targets = probe.run(
        "grep -rhEs %s /etc/rsyslog.conf /etc/rsyslog.d",
        r'^[^#]*(type="omfwd"|[[:space:]]@@?[[:alnum:][])',
    )
    lines = [line.strip() for line in targets.stdout.splitlines() if line.strip()]
    if rsyslog.stdout.strip() == "active" and lines:
        return probe.passed(f"rsyslog forwards: {lines[0]}")
    return probe.failed("no active log forwarding (rsyslog omfwd or systemd-journal-upload)")


@check("logging_time_synchronised")
def logging_time_synchronised(host: HostLike) -> CheckOutcome:
    """The system clock is synchronised over NTP (timedatectl NTPSynchronized=yes)."""
    probe = Probe(host)
    result = probe.run("timedatectl show -p NTPSynchronized --value")
    value = result.stdout.strip()
    if result.rc != 0:
        return probe.error("timedatectl failed")
    return probe.verdict(
        [] if value == "yes" else [f"NTPSynchronized={value}"], "clock synchronised"
    )


@check("logging_auditd_active")
def logging_auditd_active(host: HostLike) -> CheckOutcome:
    """auditd is running."""
    probe = Probe(host)
    state = probe.run("systemctl is-active auditd.service").stdout.strip()
    return probe.verdict([] if state == "active" else [f"auditd is {state}"], "auditd is active")


def audit_rules(
    host: HostLike, watches: Sequence[str], syscalls: Sequence[str] = ()
) -> CheckOutcome:
    """Every path in ``watches`` is watched for writes and every syscall rule regex matches."""
    probe = Probe(host)
    result = probe.run("auditctl -l")
    if result.rc != 0:
        return probe.error("auditctl -l failed: audit rules cannot be read")
    rules = result.stdout.splitlines()
    problems = []
    for path in watches:
        pattern = re.compile(rf"-w {re.escape(path)} -p \w*w")
        if not any(pattern.search(rule) for rule in rules):
            problems.append(f"no write watch on {path}")
    for syscall in syscalls:
        if not any(re.search(syscall, rule) for rule in rules):
            problems.append(f"no rule matching {syscall!r}")
    return probe.verdict(problems, f"{len(watches) + len(syscalls)} audit rules present")


@check("logging_audit_identity_rules")
def logging_audit_identity_rules(
    host: HostLike,
    *,
    watches: Sequence[str] = (
        "/etc/passwd",
        "/etc/group",
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/security/opasswd",
    ),
) -> CheckOutcome:
    """auditd records every change to the account and group databases."""
    return audit_rules(host, watches)


@check("logging_audit_privilege_rules")
def logging_audit_privilege_rules(
    host: HostLike,
    *,
    watches: Sequence[str] = ("/etc/sudoers", "/etc/sudoers.d"),
    syscalls: Sequence[str] = (r"-S execve\b.*euid=0",),
) -> CheckOutcome:
    """auditd records changes to sudo rules and commands run with root privileges."""
    return audit_rules(host, watches, syscalls)


@check("logging_audit_login_rules")
def logging_audit_login_rules(
    host: HostLike, *, watches: Sequence[str] = ("/var/log/lastlog", "/var/run/faillock")
) -> CheckOutcome:
    """auditd records login and lockout records changing."""
    return audit_rules(host, watches)


@check("logging_collector_receiving")
def logging_collector_receiving(
    host: HostLike, *, paths: Sequence[str] = ("/var/log/remote",), max_age_hours: int = 24
) -> CheckOutcome:
    """The central log collector wrote a received log within ``max_age_hours``."""
    probe = Probe(host)
    problems = stale_paths(probe, paths, max_age_hours, "received")
    return probe.verdict(problems, f"logs received in {list(paths)}")


JOURNAL_LINE = r'pdic\[[0-9]+\]:? \{"command": ?"'
"""How a record of pdic's change journal (pdic.journal) reads in a collected log file, as the
centre's collector writes it: ``2026-12-06T21:35:36.188+00:00 ctl pdic[8539] {"command":...``."""


@check("logging_change_journal_received")
def logging_change_journal_received(
    host: HostLike, *, paths: Sequence[str] = ("/var/log/remote",)
) -> CheckOutcome:
    """The log host holds records of pdic's change journal: the commands that changed the
    centre's hosts reach a log their operators cannot quietly edit."""
    probe = Probe(host)
    problems = []
    found = 0
    for path in paths:
        result = probe.run("grep -rcE -- %s %s", JOURNAL_LINE, path)
        if result.rc > 1 or "No such file" in result.stderr:
            problems.append(f"{path}: cannot be searched")
            continue
        for line in result.stdout.splitlines():
            _, _, count = line.rpartition(":")
            found += int(count) if count.strip().isdigit() else 0
    if not problems and found == 0:
        problems.append(f"no record of pdic's change journal under {', '.join(paths)}")
    return probe.verdict(problems, f"{found} change journal record(s) received")


@check("logging_process_accounting")
def logging_process_accounting(host: HostLike) -> CheckOutcome:
    """Process accounting (acct) records every command run: acct.service enabled and active."""
    probe = Probe(host)
    return probe.verdict(unit_running(probe, "acct.service"), "acct.service enabled and active")


@check("logging_sysstat_enabled")
def logging_sysstat_enabled(host: HostLike) -> CheckOutcome:
    """sysstat collects system activity: ENABLED="true" and sysstat.service enabled and active."""
    probe = Probe(host)
    result = probe.run("grep -s '^ENABLED=' /etc/default/sysstat")
    lines = result.stdout.splitlines()
    enabled = lines[-1].split("=", 1)[1].strip().strip("\"'") if lines else ""
    problems = [] if enabled == "true" else [f"/etc/default/sysstat ENABLED={enabled or 'unset'}"]
    problems += unit_running(probe, "sysstat.service")
    return probe.verdict(problems, 'ENABLED="true", sysstat.service enabled and active')
