"""Postfix queues: how many messages wait in each and how old the oldest is.

The collector takes a ``runner``: a callable that returns what ``postqueue -j`` prints (Postfix
3.1 and later: one JSON object per queued message, with ``queue_name`` and ``arrival_time`` among
its keys; nothing at all when the queues are empty). :func:`run_postqueue` is the real one;
tests pass recorded output. ``postqueue -j`` works for an unprivileged user unless Postfix's
``authorized_mailq_users`` says otherwise.

It does not read the queue directories, count recipients or look at delivery errors (the
postfix exporter's log counters do that), and it never changes the queue.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pdic.exporter.sources import ExporterError

QUEUES = ("active", "deferred", "hold", "incoming", "maildrop")
POSTQUEUE = ("postqueue", "-j")


def run_postqueue(command: Sequence[str] = POSTQUEUE, timeout: float = 10.0) -> str:
    """The output of ``postqueue -j``; a failure (Postfix down, no permission) raises."""
    try:
        proc = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExporterError(f"{' '.join(command)}: {exc}") from exc
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise ExporterError(f"{' '.join(command)}: {reason[0]}")
    return proc.stdout


def parse_postqueue(output: str) -> list[tuple[str, float]]:
    """``(queue_name, arrival_time)`` of each message in ``postqueue -j`` output."""
    messages = []
    for number, line in enumerate(output.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry: Any = json.loads(line)
            queue, arrival = entry["queue_name"], entry["arrival_time"]
        except (ValueError, TypeError, KeyError) as exc:
            raise ExporterError(f"postqueue -j line {number}: not a queue entry: {exc}") from exc
        if not queue or not isinstance(queue, str) or not _is_number(arrival):
            raise ExporterError(f"postqueue -j line {number}: bad queue_name or arrival_time")
        messages.append((queue, float(arrival)))
    return messages


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class MailQueueCollector(Collector):
    """Postfix queue sizes and the age of the oldest message, from ``postqueue -j``::

        # HELP pdic_mail_queue_messages Messages in the Postfix queue.
        # HELP pdic_mail_queue_oldest_message_age_seconds Age of the oldest message in any Postfix queue (0 when all are empty).

    ``pdic_mail_queue_messages`` has a ``queue`` label and a sample for each of active,
    deferred, hold, incoming and maildrop (0 when empty), plus any other queue name Postfix
    reports. A message whose arrival time is ahead of the clock counts as age 0.
    """  # noqa: E501

    def __init__(
        self,
        runner: Callable[[], str] = run_postqueue,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        messages = parse_postqueue(self.runner())
        counts = dict.fromkeys(QUEUES, 0)
        for queue, _ in messages:
            counts[queue] = counts.get(queue, 0) + 1
        size = GaugeMetricFamily(
            "pdic_mail_queue_messages", "Messages in the Postfix queue.", labels=["queue"]
        )
        for queue, n in counts.items():
            size.add_metric([queue], float(n))
        yield size
        oldest = min((arrival for _, arrival in messages), default=None)
        yield GaugeMetricFamily(
            "pdic_mail_queue_oldest_message_age_seconds",
            "Age of the oldest message in any Postfix queue (0 when all are empty).",
            value=0.0 if oldest is None else max(0.0, self.now() - oldest),
        )
