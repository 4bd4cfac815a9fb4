"""A receiver of Alertmanager's webhook: the second alert path, on a host other than the
monitoring host.

Alert mail goes through the centre's own Postfix, so when mail is down the alert that mail is
down cannot arrive. Alertmanager therefore also posts the Watchdog (an alert that always fires)
and every critical alert to a webhook outside that path. :class:`AlertWebhook` is the small
receiver pdic-exporter runs for it where the inventory asks (``pdic_exporter_alert_webhook``):
it counts the notifications by alert, severity and status and says when each alert last came,
as metrics::

    pdic_alert_webhook_notifications_total{alertname, severity, status}
    pdic_alert_webhook_last_notification_timestamp_seconds{alertname}

A Watchdog that stops arriving means the alert path is broken. It reads Alertmanager's webhook
format (version 4) and nothing else; it keeps only counts and times, not the alerts' text.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MAX_BODY = 1 << 20
"""The largest notification accepted (bytes); Alertmanager sends far less."""


class WebhookError(ValueError):
    """A notification that is not Alertmanager's webhook format."""


class AlertWebhook(Collector):
    """Counts Alertmanager's notifications (see the module's docstring)."""

    def __init__(self, path: str = "/alerts", now: Callable[[], float] = time.time) -> None:
        self.path = path
        self.now = now
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._last: dict[str, float] = {}

    def receive(self, body: bytes) -> int:
        """Record one notification; the number of alerts it held. WebhookError if malformed."""
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise WebhookError(f"not JSON: {exc}") from None
        alerts = doc.get("alerts") if isinstance(doc, dict) else None
        if not isinstance(alerts, list):
            raise WebhookError("no list of alerts")
        seen = []
        for alert in alerts:
            labels: Any = alert.get("labels") if isinstance(alert, dict) else None
            if not isinstance(labels, dict) or not isinstance(labels.get("alertname"), str):
                raise WebhookError("an alert without an alertname")
            status = str(alert.get("status", "firing"))
            seen.append((labels["alertname"], str(labels.get("severity", "")), status))
        now = self.now()
        with self._lock:
            for key in seen:
                self._counts[key] = self._counts.get(key, 0) + 1
                self._last[key[0]] = now
        return len(seen)

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "pdic_alert_webhook_notifications",
            "Alertmanager notifications received, by alert, severity and status.",
            labels=["alertname", "severity", "status"],
        )
        last = GaugeMetricFamily(
            "pdic_alert_webhook_last_notification_timestamp_seconds",
            "When a notification of the alert last arrived (Unix time).",
            labels=["alertname"],
        )
        with self._lock:
            for (name, severity, status), count in sorted(self._counts.items()):
                counts.add_metric([name, severity, status], count)
            for name, when in sorted(self._last.items()):
                last.add_metric([name], when)
        yield counts
        yield last
