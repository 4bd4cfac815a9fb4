"""The series an alert rule reads, found in its PromQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdic.monitoring.series import alert_rules, job_of, series_of

RULES = Path(__file__).resolve().parents[3] / "monitoring" / "prometheus" / "rules"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("pg_up == 0", {"pg_up"}),
        ("time() - pdic_backup_last_success_timestamp_seconds > 26 * 3600",
         {"pdic_backup_last_success_timestamp_seconds"}),
        ("sum without (status) (rate(postfix_smtp_messages_processed_total"
         '{status=~"bounced|deferred"}[15m])) / sum without (status) '
         "(rate(postfix_smtp_messages_processed_total[15m])) > 0.2",
         {"postfix_smtp_messages_processed_total"}),
        ("count by (job) (up offset 1h) unless count by (job) (up)", {"up"}),
        ('absent(up{job="node"})', {"up"}),
        ('predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"}[6h], 24 * 3600) < 0',
         {"node_filesystem_avail_bytes"}),
        ("(probe_ssl_earliest_cert_expiry - time() or pdic_cert_expiry_seconds) < 7 * 86400",
         {"probe_ssl_earliest_cert_expiry", "pdic_cert_expiry_seconds"}),
        ('{__name__="pg_stat_archiver_failed_count"} > 0', {"pg_stat_archiver_failed_count"}),
        ("a_total / on (host) group_left (site) b_info", {"a_total", "b_info"}),
        ("vector(1)", set()),
        ("1e3 < x_bytes", {"x_bytes"}),
    ],
)  # fmt: skip
def test_series_of(expr: str, expected: set[str]) -> None:
    assert series_of(expr) == expected


def test_job_of() -> None:
    assert job_of("pg_up") == "postgres"
    assert job_of("node_systemd_unit_state") == "node"
    assert job_of("probe_success") == "blackbox"
    assert job_of("up") is None


def test_every_rule_reads_at_least_one_series_of_a_known_job_or_up() -> None:
    rules = alert_rules(RULES)
    assert len(rules) >= 20
    for name, expr in rules:
        found = series_of(expr)
        if expr.strip() == "vector(1)":  # an always-firing watchdog reads nothing
            continue
        assert found, name
        assert all(job_of(s) is not None or s == "up" for s in found), (name, found)
