"""Faults fire alerts, end to end: each fault below is made on a lab host, then its alert must
fire in Prometheus with its labels (host, severity, team) and runbook, reach Alertmanager's
receiver for its team, and arrive in the on-call mailbox as mail through the centre's own
Postfix; then the fault is undone and the alert resolves. The lab caps every `for:` at 20 s.

Faults made elsewhere in the session: PostgreSQL stopped on the replica (PostgreSQLDown), the
node exporter stopped (HostDown) and nginx stopped on the portal (PortalSiteDown), in
test_55_monitoring. Every other alert that no fault fires in the lab is in NOT_INJECTED with
the reason; a test keeps that list and the rules equal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from alerts import (
    ALERTMANAGER,
    INV,
    RECEIVER_OF_TEAM,
    firing,
    get,
    mails_about,
    prometheus_ready,
    query,
    receivers_for,
    receivers_of,
    routed,
    wait,
)

__all__ = ["prometheus_ready"]  # the fixture, used by name

PSQL = "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -c %s"

NOT_INJECTED = {
    "HostDown": "test_55_monitoring stops the node exporter",
    "PostgreSQLDown": "test_55_monitoring stops PostgreSQL on the replica",
    "PortalSiteDown": "test_55_monitoring stops nginx on the portal",
    "PortalSiteSlow": "needs a portal site slower than its threshold for minutes",
    "PostgreSQLReplicaLag": "needs more than 5 minutes of lag behind a busy primary",
    "BackupTooOld": "needs 26 hours without a backup",
    "RestoreDrillTooOld": "needs 35 days without a drill (or a lab that never drilled)",
    "BackupTimerNotRun": "needs a timer silent for more than a day",
    "CRLTimerNotRun": "needs the CRL timer silent for more than a day",
    "MailQueueBacklog": "needs 500 messages held in a queue",
    "MailQueueMessageStuck": "needs a message held for 6 hours",
    "MailDeliveryFailures": "needs mail to the outside world, which the lab has none of",
    "MailLoginFailures": "needs more than one failed login a second for minutes (Dovecot's "
    "auth penalty slows them down)",
    "DiskFullIn24h": "needs a filesystem that fills over hours; tmpfs is not watched and the "
    "lab's containers cannot mount a loop device",
    "CPUSaturation": "needs 30 minutes of saturated CPU on a shared machine",
    "MemorySaturation": "needs the lab machine's memory nearly full",
    "TargetMissing": "needs a scrape target to vanish from the file_sd files",
    "TLSCertificateExpiring30d": "the 7-day fault below passes through it within seconds",
    "TLSCertificateExpiring14d": "the 7-day fault below passes through it within seconds",
    "CRLExpiringSoon": "the CA reissues its CRL long before its next update",
    "TLSCertificateRevoked": "test_40_pki revokes a certificate that is no longer installed",
    "ClockNotSynchronised": "the lab shares the machine's kernel clock",
    "ClockSkew": "the lab shares the machine's kernel clock",
    "AlertmanagerNotificationsFailing": "needs the mail server to refuse Alertmanager",
    "PrometheusRuleEvaluationFailures": "needs a rule that fails at evaluation",
    "PostgreSQLWALArchiveStalled": "PostgreSQLWALArchivingFailing below is the same fault",
    "PostgreSQLReplicationSlotInactive": "needs the replica away for 30 minutes",
    "PostgreSQLReplicationSlotRetainingWAL": "needs gigabytes of WAL held by a slot",
    "PostgreSQLReplicationSlotLost": "needs a slot past max_slot_wal_keep_size",
    "PostgreSQLTooManyConnections": "needs 80% of max_connections held open",
    "PostgreSQLExporterQueryErrors": "needs a failing exporter query",
    "Watchdog": "always firing: test_the_watchdog_fires_and_reaches_the_second_path",
    "ConfigurationDrift": "injected by tests/lab/test_62_drift.py",
    "BruteForceBans": "injected by tests/lab/test_59_fail2ban.py",
    "LoginFailuresBulk": "needs more than 30 failed logins in 10 minutes to one jail: a lab host "
    "is banned after 5 (test_59_fail2ban fires BruteForceBans instead)",
    "Fail2banDown": "needs fail2ban stopped for 5 minutes, which would leave a host "
    "unprotected while other modules run",
    "DriftCheckNotRun": "needs 26 hours after the last drift check, which a lab run cannot "
    "wait (its never-ran half, absent() for 26 h, fires once the lab's 20 s cap has passed "
    "on a lab where `pdic drift` has not run: not a fault either)",
    "FileIntegrityChanged": "injected by tests/lab/test_63_aide.py",
    "FileIntegrityCheckNotRun": "needs 26 hours after the last AIDE check, which a lab run "
    "cannot wait, or a host whose AIDE database was removed; every deploy writes a result",
    "MalwareFound": "injected by tests/lab/test_82_antivirus.py (the EICAR file in hcc's uploads)",
    "ClamavDown": "injected by tests/lab/test_82_antivirus.py (clamd stopped on mail-1)",
    "MalwareScanNotRun": "needs 26 hours after the last scan of the uploads, which a lab run "
    "cannot wait, or a scan that cannot read the storage for 30 minutes (the lab's 20 s cap "
    "applies, but test_82_antivirus stops clamd on the mail host, which has no uploads)",
}


@dataclass(frozen=True)
class Fault:
    name: str
    alert: str
    host: str
    make: Callable[[Any], None]
    undo: Callable[[Any], None]
    timeout: float = 120
    cleared: Callable[[Any], bool] | None = None
    """For an alert that reads a rate over minutes: how to see that the fault is gone at its
    source (the alert itself clears only once the rate's window has passed)."""


def _run(command: str, *args: str) -> Callable[[Any], None]:
    def run(host: Any) -> None:
        host.check_output(command, *args)

    return run


def _nft(hook: str, match: str) -> Callable[[Any], None]:
    """A table of its own on the host that rejects what ``match`` matches at ``hook``."""
    return _run(
        f"nft add table inet pdicfault && nft add chain inet pdicfault {hook} "
        f"'{{ type filter hook {hook} priority 0; }}' && "
        f"nft add rule inet pdicfault {hook} {match} reject with tcp reset"
    )


def _short_lived_certificate(host: Any) -> None:
    """The host's certificate file replaced by one that expires in two days (kept aside)."""
    path = _certificate_path()
    host.check_output("cp -a -- %s %s.pdic-fault", path, path)
    host.check_output(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=pdic-fault -keyout /dev/null -out %s",
        path,
    )


def _certificate_back(host: Any) -> None:
    path = _certificate_path()
    host.check_output("mv -f -- %s.pdic-fault %s", path, path)


def _certificate_path() -> str:
    found = query('pdic_cert_expiry_seconds{host="hcc-1", path=~".*/host.crt"}')
    assert found, query('pdic_cert_expiry_seconds{host="hcc-1"}')
    return str(found[0]["metric"]["path"])


FAULTS = [
    Fault(
        "exporter-stopped",
        "ExporterDown",
        "hcc-1",
        _run("systemctl stop pdic-exporter"),
        _run("systemctl start pdic-exporter"),
    ),
    Fault(
        "unit-failed",
        "SystemdUnitFailed",
        "portal-1",
        _run("systemd-run --unit=pdic-fault-unit --no-block /bin/false"),
        _run("systemctl reset-failed pdic-fault-unit.service"),
    ),
    Fault(
        "imaps-port-closed",
        "MailPortDown",
        "mail-1",
        # The host's own firewall rejects IMAPS; mail is still delivered (the notification too).
        _nft("input", "tcp dport 993"),
        _run("nft delete table inet pdicfault"),
    ),
    Fault(
        "application-stopped",
        "ApplicationHealthCheckFailed",
        "eoffice-1",
        _run("systemctl stop pdic-app-eoffice"),
        _run("systemctl start pdic-app-eoffice"),
    ),
    Fault(
        "wal-archiving-broken",
        "PostgreSQLWALArchivingFailing",
        "db-1",
        # archive_command fails; a new segment makes the archiver try (and retry) it.
        lambda h: (
            h.check_output(PSQL, "ALTER SYSTEM SET archive_command = '/bin/false'"),
            h.check_output(PSQL, "SELECT pg_reload_conf()"),
            h.check_output(PSQL, "SELECT pg_switch_wal() FROM pg_create_restore_point('fault')"),
        ),
        lambda h: (
            h.check_output(PSQL, "ALTER SYSTEM RESET archive_command"),
            h.check_output(PSQL, "SELECT pg_reload_conf()"),
        ),
        timeout=180,
        # rate(...[5m]) stays above 0 for 5 minutes after the last failure: the test sees the
        # archiver succeed again instead of waiting for that.
        cleared=lambda h: (
            h.check_output(
                PSQL, "SELECT last_archived_time > last_failed_time FROM pg_stat_archiver"
            ).strip()
            == "t"
        ),
    ),
    Fault(
        "replica-cut-off",
        "PostgreSQLReplicaNotStreaming",
        "db-2",
        # The replica's own firewall rejects its connections to the primary.
        _nft("output", f"ip daddr {INV.host('db-1').address} tcp dport 5432"),
        _run("nft delete table inet pdicfault"),
        timeout=180,
    ),
    Fault(
        "short-lived-certificate",
        "TLSCertificateExpiring7d",
        "hcc-1",
        _short_lived_certificate,
        _certificate_back,
    ),
]


@contextlib.contextmanager
def injected(fault: Fault, host: Any) -> Iterator[None]:
    fault.make(host)
    try:
        yield
    finally:
        fault.undo(host)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_fault_fires_its_alert_and_reaches_oncall(  # type: ignore[no-untyped-def]
    connect, prometheus_ready, fault: Fault
) -> None:
    host = connect(fault.host)
    assert not firing(fault.alert, fault.host), f"{fault.alert} fires before the fault"
    before = mails_about(connect, fault.alert, fault.host)
    with injected(fault, host):
        alerts = wait(lambda: firing(fault.alert, fault.host), timeout=fault.timeout)
        assert alerts, f"{fault.alert} did not fire on {fault.host}"
        labels, annotations = alerts[0]["labels"], alerts[0]["annotations"]
        assert labels["severity"] in ("critical", "warning"), labels
        assert annotations["runbook_url"] == f"monitoring/runbooks/{fault.alert}.md"
        assert fault.host in annotations["summary"] or fault.host in str(labels), annotations
        expected = receivers_for(labels["team"], labels["severity"])
        got = wait(lambda: routed(fault.alert, fault.host), timeout=60)
        assert got and receivers_of(got[0]) == expected, got
        mailed = wait(lambda: mails_about(connect, fault.alert, fault.host) - before, timeout=120)
        assert mailed, f"no {fault.alert} notification for {fault.host} in the on-call mailbox"
        if labels["severity"] == "critical":  # also on the second path, which needs no mail
            assert wait(lambda: _second_path_has(fault.alert), timeout=90), (
                f"{fault.alert} did not reach the second path"
            )
    if fault.cleared is not None:
        assert wait(lambda: fault.cleared(host), timeout=180, every=5), (
            f"{fault.name} is still there on {fault.host} after it was undone"
        )
        return
    assert wait(lambda: not firing(fault.alert, fault.host), timeout=180), (
        f"{fault.alert} still fires on {fault.host} after the fault was undone"
    )


def test_every_alert_has_a_fault_or_a_reason() -> None:
    from conftest import ROOT

    from pdic.monitoring.series import alert_rules

    names = {name for name, _ in alert_rules(ROOT / "monitoring" / "prometheus" / "rules")}
    covered = {f.alert for f in FAULTS} | set(NOT_INJECTED)
    assert names - covered == set(), "alerts with neither a lab fault nor a reason"
    assert covered - names == set(), "faults or reasons for alerts that do not exist"


def test_the_watchdog_fires_and_reaches_the_second_path(prometheus_ready) -> None:  # type: ignore[no-untyped-def]
    watchdog = wait(
        lambda: [
            a
            for a in get(ALERTMANAGER, "/api/v2/alerts")
            if a["labels"].get("alertname") == "Watchdog"
        ],
        timeout=60,
    )
    assert watchdog, "the Watchdog is not firing"
    receivers = {r["name"] for r in watchdog[0]["receivers"]}
    assert receivers == {INV.vars["alertmanager_watchdog_receiver"]}, receivers
    assert not receivers & set(RECEIVER_OF_TEAM.values()), receivers
    # It arrived where the second path ends: the backup host's exporter counted it.
    assert wait(lambda: _second_path_has("Watchdog"), timeout=120), query(
        "pdic_alert_webhook_notifications_total"
    )


def _second_path_has(alertname: str) -> bool:
    """The webhook receiver (the backup host's pdic exporter) counted a firing ``alertname``."""
    found = query(
        f'pdic_alert_webhook_notifications_total{{alertname="{alertname}", status="firing"}} > 0'
    )
    return bool(found)


def test_a_window_holds_back_its_hosts_notifications_and_no_others(  # type: ignore[no-untyped-def]
    connect, prometheus_ready
) -> None:
    """Planned work by hand on hcc-1: its alerts still fire, but on-call is not paged for
    them; the same fault on portal-1, outside the window, pages as always."""
    from conftest import pdic

    inside, outside, alert = "hcc-1", "portal-1", "ExporterDown"
    run = pdic("maint", "start", "-l", inside, "--for", "15m", "--reason", "lab: planned work")
    assert run.returncode == 0, run
    window_id = run.stdout.split()[1].rstrip(":")
    before = {h: mails_about(connect, alert, h) for h in (inside, outside)}
    try:
        for name in (inside, outside):
            connect(name).check_output("systemctl stop pdic-exporter")
        try:
            assert wait(lambda: firing(alert, inside) and firing(alert, outside), timeout=120)
            assert wait(lambda: mails_about(connect, alert, outside) - before[outside], timeout=120)
            held = routed(alert, inside)
            assert held and held[0]["status"]["state"] == "suppressed", held
            assert window_id in held[0]["status"]["silencedBy"], held
            assert mails_about(connect, alert, inside) == before[inside]
            listed = pdic("maint", "list")
            assert window_id in listed.stdout and "lab: planned work" in listed.stdout, listed
            status = pdic("status")
            assert "maintenance windows: 1" in status.stdout, status.stdout
        finally:
            for name in (inside, outside):
                connect(name).check_output("systemctl start pdic-exporter")
    finally:
        closed = pdic("maint", "end", window_id)
        assert closed.returncode == 0, closed
    assert window_id not in pdic("maint", "list").stdout
