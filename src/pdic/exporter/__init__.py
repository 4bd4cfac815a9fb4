"""pdic-exporter: what the centre's own files and queues say, as Prometheus metrics.

One Collector class per source, each switchable in the config (:mod:`pdic.exporter.app`):
certificate and CRL files (:mod:`~pdic.exporter.pki`), the backup state file
(:mod:`~pdic.exporter.backup`), Postfix's queues (:mod:`~pdic.exporter.mail`), the audit's
results file (:mod:`~pdic.exporter.compliance`) and fail2ban's bans
(:mod:`~pdic.exporter.fail2ban`). Each reads its source when Prometheus scrapes
and raises when it cannot, so the scrape fails and ``up`` says so; none reports a made-up zero.

It does not watch services that have exporters of their own (node, postgres, postfix, blackbox)
and keeps no history: Prometheus does.
"""

from pdic.exporter.app import build_collectors, build_registry, main, serve, start
from pdic.exporter.backup import BackupCollector
from pdic.exporter.compliance import ComplianceCollector
from pdic.exporter.fail2ban import Fail2banCollector
from pdic.exporter.mail import MailQueueCollector
from pdic.exporter.pki import CertificateCollector, CrlCollector
from pdic.exporter.sources import ExporterError

__all__ = [
    "BackupCollector",
    "CertificateCollector",
    "ComplianceCollector",
    "CrlCollector",
    "ExporterError",
    "Fail2banCollector",
    "MailQueueCollector",
    "build_collectors",
    "build_registry",
    "main",
    "serve",
    "start",
]
