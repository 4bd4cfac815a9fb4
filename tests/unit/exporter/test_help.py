"""Each collector's docstring shows the exact # HELP lines it emits, and the names are pdic's."""

from __future__ import annotations

import inspect
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from pdic.exporter.backup import BackupCollector
from pdic.exporter.compliance import ComplianceCollector
from pdic.exporter.mail import MailQueueCollector
from pdic.exporter.pki import CertificateCollector, CrlCollector

from .conftest import DAY, NOW, MakeCert, MakeCrl, pem, write

# the names monitoring/README.md says the alert rules read
RULE_METRICS = {
    "pdic_cert_expiry_seconds",
    "pdic_cert_info",
    "pdic_crl_next_update_seconds",
    "pdic_crl_revoked_certificate_info",
    "pdic_backup_last_success_timestamp_seconds",
    "pdic_restore_drill_last_success_timestamp_seconds",
    "pdic_mail_queue_messages",
    "pdic_mail_queue_oldest_message_age_seconds",
}


def test_help_lines_match_docstrings(
    tmp_path: Path, make_cert: MakeCert, make_crl: MakeCrl
) -> None:
    cert = write(tmp_path / "c.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    crl = make_crl(NOW, NOW + DAY).public_bytes(serialization.Encoding.PEM)
    state = tmp_path / "backup-state.json"
    state.write_text('{"stanzas": {"main": {}}}')
    audit = tmp_path / "audit.prom"
    audit.write_text("")
    collectors: list[Collector] = [
        CertificateCollector([cert], now=lambda: NOW),
        CrlCollector([write(tmp_path / "c.crl", crl)], now=lambda: NOW),
        BackupCollector(state),
        MailQueueCollector(lambda: "", now=lambda: NOW),
        ComplianceCollector(audit),
    ]
    emitted = set()
    for collector in collectors:
        registry = CollectorRegistry()
        registry.register(collector)
        text = generate_latest(registry).decode()
        helps = [line for line in text.splitlines() if line.startswith("# HELP ")]
        assert helps, type(collector).__name__
        doc = inspect.getdoc(collector) or ""
        for line in helps:
            assert line in doc.splitlines() or f"    {line}" in doc.splitlines(), line
            emitted.add(line.split()[2])
    assert emitted >= RULE_METRICS
    assert all(name.startswith("pdic_") for name in emitted)
