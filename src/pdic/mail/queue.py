"""`pdic mail queue`: the size of each mail host's Postfix queues and its oldest message.

Each mail host runs ``postqueue -j`` over SSH (as the operations account with sudo); its output
is parsed by the pdic exporter's own parser (:func:`pdic.exporter.mail.parse_postqueue`), so the
command and the ``pdic_mail_queue_*`` metrics count alike. It never changes a queue.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pdic.exporter.mail import QUEUES, parse_postqueue
from pdic.exporter.sources import ExporterError
from pdic.inventory import Host, Inventory
from pdic.mail.model import Connect, run_on, select_hosts


@dataclass(frozen=True)
class QueueStatus:
    """One host's messages per queue and the age of the oldest (None when empty)."""

    host: str
    counts: dict[str, int] = field(default_factory=dict)
    oldest_seconds: float | None = None
    error: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def summarise(host: str, output: str, now: float) -> QueueStatus:
    """``postqueue -j`` output of ``host`` at time ``now``."""
    try:
        messages = parse_postqueue(output)
    except ExporterError as exc:
        return QueueStatus(host, error=str(exc))
    counts = dict.fromkeys(QUEUES, 0)
    for queue, _ in messages:
        counts[queue] = counts.get(queue, 0) + 1
    oldest = min((arrival for _, arrival in messages), default=None)
    return QueueStatus(host, counts, None if oldest is None else max(0.0, now - oldest))


def read_queue(host: Host, connect: Connect, now: float) -> QueueStatus:
    output, error = run_on(host, connect, "postqueue -j")
    return QueueStatus(host.name, error=error) if error else summarise(host.name, output, now)


def collect(
    inventory: Inventory, limit: str | None, connect: Connect, now: float
) -> list[QueueStatus]:
    hosts = select_hosts(inventory, limit)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(hosts)))) as pool:
        return list(pool.map(lambda h: read_queue(h, connect, now), hosts))


def age(seconds: float | None) -> str:
    """``-`` for none, else the largest two units (``3h12m``, ``2d4h``, ``45s``)."""
    if seconds is None:
        return "-"
    left = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts[:2])


def format_table(statuses: Sequence[QueueStatus]) -> str:
    header = ("HOST", *(q.upper() for q in QUEUES), "TOTAL", "OLDEST")
    rows = [header]
    for s in statuses:
        if s.error:
            rows.append((s.host, *("?" for _ in QUEUES), "?", f"error: {s.error}"))
        else:
            counts = [str(s.counts.get(q, 0)) for q in QUEUES]
            rows.append((s.host, *counts, str(s.total), age(s.oldest_seconds)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n"
        for r in rows
    )


def format_json(statuses: Sequence[QueueStatus]) -> str:
    return (
        json.dumps(
            [
                {
                    "host": s.host,
                    "queues": s.counts,
                    "total": s.total,
                    "oldest_seconds": s.oldest_seconds,
                    **({"error": s.error} if s.error else {}),
                }
                for s in statuses
            ],
            indent=2,
        )
        + "\n"
    )
