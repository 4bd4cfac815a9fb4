"""ComplianceCollector re-exposes what `pdic audit --format prom` writes."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pdic.compliance.catalogue import load_catalogue
from pdic.compliance.report import Result, to_prometheus
from pdic.exporter.compliance import ComplianceCollector
from pdic.exporter.sources import ExporterError

REPO = Path(__file__).resolve().parents[3]


def registry_for(path: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ComplianceCollector(path))
    return registry


def test_audit_results_are_re_exposed(tmp_path: Path) -> None:
    controls = load_catalogue(REPO / "compliance").controls
    results = [
        Result(controls["PDIC-SSH-001"], "db-1", "fail", "permitrootlogin is 'yes'"),
        Result(controls["PDIC-SSH-001"], "portal-1", "pass", "permitrootlogin no"),
    ]
    path = tmp_path / "audit.prom"
    path.write_text(to_prometheus(results))
    os.utime(path, (1764300000, 1764300000))
    reg = registry_for(path)
    severity = controls["PDIC-SSH-001"].severity
    status = "pdic_compliance_control_status"
    assert (
        reg.get_sample_value(
            status, {"control": "PDIC-SSH-001", "host": "db-1", "severity": severity}
        )
        == 0.0
    )
    assert (
        reg.get_sample_value(
            status, {"control": "PDIC-SSH-001", "host": "portal-1", "severity": severity}
        )
        == 1.0
    )
    assert reg.get_sample_value("pdic_compliance_centre_score_ratio") == 0.5
    assert reg.get_sample_value("pdic_compliance_report_modified_timestamp_seconds") == 1764300000
    text = generate_latest(reg).decode()
    assert "# TYPE pdic_compliance_control_status gauge" in text


def test_nan_score_survives(tmp_path: Path) -> None:
    path = tmp_path / "audit.prom"
    path.write_text(to_prometheus([]))
    value = registry_for(path).get_sample_value("pdic_compliance_centre_score_ratio")
    assert value is not None and math.isnan(value)


def test_missing_file_gives_no_samples(tmp_path: Path) -> None:
    reg = registry_for(tmp_path / "audit.prom")
    assert generate_latest(reg) == b""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('pdic_compliance_results{host="db-1" 3\n', "not Prometheus text format"),
        ("pdic_cert_expiry_seconds 5\n", "pdic_cert_expiry_seconds: name does not start with"),
        ("up 1\n", "up: name does not start with"),
    ],
)
def test_bad_file_fails_the_scrape(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "audit.prom"
    path.write_text(content)
    with pytest.raises(ExporterError, match=message):
        generate_latest(registry_for(path))


def test_unreadable_file_fails_the_scrape(tmp_path: Path) -> None:
    with pytest.raises(ExporterError, match="Is a directory"):
        generate_latest(registry_for(tmp_path))
