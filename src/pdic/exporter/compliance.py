"""The last audit's results, re-exposed from the Prometheus text file `pdic audit` writes.

`pdic audit --format prom` writes ``audit.prom`` (see :func:`pdic.compliance.report.to_prometheus`:
``pdic_compliance_control_status{control,host,severity}``, scores, result counts, expired
waivers). The collector parses that file at each scrape and yields its families unchanged, plus
the file's modification time so a rule can tell an audit that stopped running.

A missing file is not an error: it means no audit has written results on this host yet, and the
collector yields nothing (not even the modification time). A file that cannot be read or parsed,
or that holds a metric whose name does not start with ``pdic_compliance_``, fails the scrape:
the file must not be able to shadow the exporter's other metrics.

It does not run the audit or judge its results.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from pdic.exporter.sources import ExporterError

PREFIX = "pdic_compliance_"
DEFAULT_PATH = "/var/lib/pdic/audit/audit.prom"


class ComplianceCollector(Collector):
    """The samples of the audit's Prometheus text file, and when it was written::

        # HELP pdic_compliance_report_modified_timestamp_seconds Unix time the audit's results file was last written.

    The re-exposed families keep the HELP, type and labels the audit gave them.
    """  # noqa: E501

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path)

    def collect(self) -> Iterator[Metric]:
        try:
            with self.path.open(encoding="utf-8") as f:
                mtime = os.fstat(f.fileno()).st_mtime
                text = f.read()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise ExporterError(f"{self.path}: {exc}") from exc
        try:
            families = list(text_string_to_metric_families(text))
        except ValueError as exc:
            raise ExporterError(f"{self.path}: not Prometheus text format: {exc}") from exc
        for family in families:
            if not family.name.startswith(PREFIX):
                raise ExporterError(
                    f"{self.path}: {family.name}: name does not start with {PREFIX}"
                )
        yield from families
        yield GaugeMetricFamily(
            "pdic_compliance_report_modified_timestamp_seconds",
            "Unix time the audit's results file was last written.",
            value=mtime,
        )
