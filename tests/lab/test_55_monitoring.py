"""Monitoring on the lab: Prometheus on mon-1 scrapes every inventory host, alerts fire and
are routed, and `pdic status` shows the centre from Prometheus' API.

The lab caps every rule's `for:` at 20 s (prometheus_rule_for_max) and scrapes every 5 s, so a
failure shows as a firing alert within about a minute. What a test breaks it mends before it
ends (other tests share the lab).
"""

from __future__ import annotations

import json

import pytest
from alerts import (
    ALERTMANAGER,
    HOSTS,
    INV,
    MON,
    PROMETHEUS,
    mails_about,
    prometheus_ready,
    receivers_for,
    receivers_of,
)
from alerts import firing as _firing
from alerts import get as _get
from alerts import query as _query
from alerts import wait as _wait

__all__ = ["prometheus_ready"]  # the fixture, used by name
from conftest import pdic


def test_monitoring_services_run_on_the_monitoring_host(connect) -> None:  # type: ignore[no-untyped-def]
    mon = connect(MON.name)
    for unit in (
        "prometheus",
        "prometheus-alertmanager",
        "prometheus-blackbox-exporter",
        "prometheus-node-exporter",
        "pdic-exporter",
    ):
        assert mon.service(unit).is_running, unit
        assert mon.service(unit).is_enabled, unit
    assert mon.run("promtool check config /etc/prometheus/prometheus.yml").rc == 0
    assert mon.run("amtool check-config /etc/prometheus/alertmanager.yml").rc == 0


@pytest.mark.parametrize("job", ["node", "pdic"])
def test_every_inventory_host_is_an_up_target(prometheus_ready, job: str) -> None:  # type: ignore[no-untyped-def]
    results = _query(f'up{{job="{job}"}}')
    by_host = {r["metric"].get("host"): r["value"][1] for r in results}
    assert by_host == {name: "1" for name in HOSTS}
    # Labels from the inventory: the service (group) of each host.
    for r in results:
        host = INV.host(r["metric"]["host"])
        assert r["metric"].get("service") in host.groups, r["metric"]


@pytest.mark.parametrize("name", HOSTS)
def test_pdic_exporter_reports_the_host_certificate(prometheus_ready, name: str) -> None:  # type: ignore[no-untyped-def]
    results = _query(f'pdic_cert_expiry_seconds{{host="{name}",path="/etc/pdic/pki/host.crt"}}')
    assert len(results) == 1, results
    assert 300 * 86400 < float(results[0]["value"][1]) < 400 * 86400


def test_alert_rules_are_loaded_with_the_lab_cap(prometheus_ready) -> None:  # type: ignore[no-untyped-def]
    groups = _get(PROMETHEUS, "/api/v1/rules")["groups"]
    rules = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
    assert len(rules) >= 20
    assert all(r["duration"] <= 20 for r in rules), [(r["name"], r["duration"]) for r in rules]
    for r in rules:
        assert r["annotations"]["runbook_url"] == f"monitoring/runbooks/{r['name']}.md"


def test_a_stopped_exporter_fires_host_down_routes_it_and_shows_in_status(  # type: ignore[no-untyped-def]
    connect, prometheus_ready
) -> None:
    victim = "backup-1"
    host = connect(victim)
    host.check_output("systemctl stop prometheus-node-exporter")
    try:
        firing = _wait(lambda: _firing("HostDown", victim), timeout=120)
        assert firing, _get(PROMETHEUS, "/api/v1/alerts")
        alert = firing[0]
        assert alert["labels"]["severity"] == "critical"
        assert victim in alert["annotations"]["summary"]
        # Alertmanager got it and routes it to the platform team's receiver.
        received = _wait(
            lambda: [
                a
                for a in _get(ALERTMANAGER, "/api/v2/alerts")
                if a["labels"].get("alertname") == "HostDown" and a["labels"].get("host") == victim
            ],
            timeout=60,
        )
        assert received and receivers_of(received[0]) == receivers_for("platform", "critical")
        # `pdic status` names the failure.
        run = pdic("status")
        assert run.returncode == 0, run
        assert "HostDown" in run.stdout and victim in run.stdout, run.stdout
        backup_line = next(
            line for line in run.stdout.splitlines() if line.strip().startswith("backup ")
        )
        assert " red " in backup_line or " amber " in backup_line, backup_line
        status = json.loads(pdic("status", "--json").stdout)
        assert any(
            a["name"] == "HostDown" and a["host"] == victim and a["state"] == "firing"
            for a in status["alerts"]
        ), status["alerts"]
    finally:
        host.check_output("systemctl start prometheus-node-exporter")
    assert _wait(lambda: not _firing("HostDown", victim), timeout=120)


def test_stopping_nginx_on_the_portal_fires_site_down_for_its_sites(  # type: ignore[no-untyped-def]
    connect, prometheus_ready
) -> None:
    portal = connect("portal-1")
    sites = {s["name"] for s in INV.vars["portal_sites"]}
    # Every site is probed and up before the failure.
    up = _wait(
        lambda: len(_query('probe_success{job="blackbox_https"} == 1')) == len(sites), timeout=90
    )
    assert up, _query('probe_success{job="blackbox_https"}')
    portal.check_output("systemctl stop nginx")
    try:

        def down_sites() -> set[str]:
            return {
                a["labels"].get("site", "")
                for a in _get(PROMETHEUS, "/api/v1/alerts")["alerts"]
                if a["labels"].get("alertname") == "PortalSiteDown" and a["state"] == "firing"
            }

        assert _wait(lambda: down_sites() == sites, timeout=120), down_sites()
        alert = next(
            a
            for a in _get(PROMETHEUS, "/api/v1/alerts")["alerts"]
            if a["labels"].get("alertname") == "PortalSiteDown"
        )
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["team"] == "web"
        assert alert["labels"]["site"] in alert["annotations"]["summary"]
        # Routed to the web team's receiver.
        routed = _wait(
            lambda: [
                a
                for a in _get(ALERTMANAGER, "/api/v2/alerts")
                if a["labels"].get("alertname") == "PortalSiteDown"
            ],
            timeout=60,
        )
        assert routed and receivers_of(routed[0]) == receivers_for("web", "critical"), routed
        run = pdic("status")
        portal_line = next(
            line for line in run.stdout.splitlines() if line.strip().startswith("portal ")
        )
        assert " red " in portal_line, run.stdout
        assert "PortalSiteDown" in run.stdout, run.stdout
    finally:
        portal.check_output("systemctl start nginx")
    assert _wait(
        lambda: len(_query('probe_success{job="blackbox_https"} == 1')) == len(sites), timeout=120
    )


def test_postgresql_stopped_on_the_replica_fires_reaches_oncall_and_turns_db_red(  # type: ignore[no-untyped-def]
    connect, prometheus_ready
) -> None:
    # Once, the postgres exporter ran on both db hosts but no scrape job read it: pg_up did not
    # exist and PostgreSQL stopped by hand raised nothing. The job now comes from the targets.
    replica = next(h.name for h in INV.select("db") if h.vars.get("postgresql_role") == "replica")
    up = _wait(lambda: _query(f'pg_up{{host="{replica}"}} == 1'), timeout=60)
    assert up, _query("pg_up")
    before = mails_about(connect, "PostgreSQLDown", replica)
    host = connect(replica)
    host.check_output("systemctl stop postgresql@15-main")
    try:
        # The lab's `for:` cap (20 s), the exporter's next scrapes (5 s) and evaluation (5 s).
        firing = _wait(lambda: _firing("PostgreSQLDown", replica), timeout=90)
        assert firing, _query("pg_up")
        assert firing[0]["labels"]["severity"] == "critical"
        assert firing[0]["labels"]["team"] == "database"
        routed = _wait(
            lambda: [
                a
                for a in _get(ALERTMANAGER, "/api/v2/alerts")
                if a["labels"].get("alertname") == "PostgreSQLDown"
                and a["labels"].get("host") == replica
            ],
            timeout=60,
        )
        assert routed and receivers_of(routed[0]) == receivers_for("database", "critical")
        mailed = _wait(
            lambda: mails_about(connect, "PostgreSQLDown", replica) - before, timeout=120
        )
        assert mailed, "no PostgreSQLDown notification reached the on-call mailbox"
        run = pdic("status")
        db_line = next(line for line in run.stdout.splitlines() if line.strip().startswith("db "))
        assert " red " in db_line, run.stdout
    finally:
        host.check_output("systemctl start postgresql@15-main")
    assert _wait(lambda: not _firing("PostgreSQLDown", replica), timeout=120)


# Series an alert reads that the lab has only once something happened, or never: each with why.
# Every other series of every rule must exist in the lab's Prometheus.
SERIES_ABSENT_BY_DESIGN = {
    "postfix_smtp_messages_processed_total": "counted per status once mail was sent out of the "
    "centre; the lab's mail stays inside (delivered locally)",
    "dovecot_auth_failures_total": "appears with the first failed login (test_80_mail makes one, "
    "after this module)",
    "node_timex_sync_status": "the lab's hosts are containers: node_exporter's timex collector "
    "(adjtimex) gives them nothing",
    "node_timex_maxerror_seconds": "as node_timex_sync_status",
    "node_timex_offset_seconds": "as node_timex_sync_status",
    "pdic_drift_changed_tasks": "written by the first `pdic drift` (pdic_drift.prom on the "
    "monitoring host); a freshly deployed lab has none",
}
# Series that every host of its job must have (not only some of them).
EVERY_HOST = {
    "up",
    "pg_up",
    "node_filesystem_avail_bytes",
    "node_memory_MemAvailable_bytes",
    "node_cpu_seconds_total",
    "node_systemd_unit_state",
}


def test_every_rule_reads_series_that_exist_in_the_lab(prometheus_ready) -> None:  # type: ignore[no-untyped-def]
    """A rule passes promtool with the series fed by hand; only the lab shows that the series
    is scraped. Each series of each rule exists, on every host of its job where it must."""
    from conftest import ROOT

    from pdic.monitoring.series import alert_rules, job_of, series_of
    from pdic.monitoring.targets import file_sd_targets

    targets = file_sd_targets(INV)
    hosts_of = {
        job: {e["labels"]["host"] for e in entries if "host" in e["labels"]}
        for job, entries in targets.items()
    }
    missing = []
    rules = alert_rules(ROOT / "monitoring" / "prometheus" / "rules")
    for name, expr in rules:
        for metric in sorted(series_of(expr)):
            if metric in SERIES_ABSENT_BY_DESIGN:
                continue
            found = {
                r["metric"].get("host", "")
                for r in _query(f'count by (host) ({{__name__="{metric}"}})')
            }
            if not found:
                missing.append(f"{name}: {metric}: no series in the lab")
                continue
            job = job_of(metric)
            if metric in EVERY_HOST:
                wanted = set(INV.hosts) if job is None else hosts_of.get(job, set())
                if wanted - found:
                    missing.append(
                        f"{name}: {metric}: none for {', '.join(sorted(wanted - found))}"
                    )
    assert missing == [], "\n".join(missing)
    used = {m for _, expr in rules for m in series_of(expr)}
    assert set(SERIES_ABSENT_BY_DESIGN) <= used, "an exemption for a series no rule reads"
