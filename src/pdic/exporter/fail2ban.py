"""What fail2ban has banned, per jail, from the status file its role writes every minute.

Only root may ask fail2ban (its socket is root's) and the exporter runs as a dynamic user, so
the fail2ban role's root timer (``pdic-fail2ban-status``) writes what ``fail2ban-client
status`` and then ``fail2ban-client status <jail>`` print for each jail into one file (default
``/run/pdic-fail2ban/status``), by renaming a temporary file. fail2ban 1.0.2 prints::

    Status
    |- Number of jail:      1
    `- Jail list:   sshd
    Status for the jail: sshd
    |- Filter
    |  |- Currently failed: 0
    |  |- Total failed:     3
    |  `- Journal matches:  _SYSTEMD_UNIT=ssh.service + _COMM=sshd
    `- Actions
       |- Currently banned: 1
       |- Total banned:     1
       `- Banned IP list:   10.251.0.13

(fields separated by a tab). When fail2ban does not answer the file's first line starts with
``pdic:`` and says so. ``pdic_fail2ban_up`` is 1 when the file is fresher than
``max_age_seconds`` and holds the status of every jail fail2ban listed, else 0 with no jail
series: fail2ban down, the timer stopped or the file missing (before the role's first run) all
read as "fail2ban did not answer", which is what the alert Fail2banDown is about. Totals count
from fail2ban's last start (a restart resets them, as a counter's reset).

It does not ask fail2ban itself, unban, or list the banned addresses as labels (unbounded).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pdic.exporter.sources import ExporterError

DEFAULT_STATUS_FILE = "/run/pdic-fail2ban/status"
DEFAULT_MAX_AGE = 180.0

_FIELD = re.compile(r"^[\s|`-]*(?P<key>[A-Za-z][A-Za-z ]*?):\s*(?P<value>.*)$")
_JAIL = re.compile(r"^Status for the jail:\s*(?P<jail>\S+)\s*$")


@dataclass(frozen=True)
class JailStatus:
    """One jail's counts, as ``fail2ban-client status <jail>`` prints them."""

    failed: int
    failed_total: int
    banned: int
    banned_total: int


_KEYS = {
    "Currently failed": "failed",
    "Total failed": "failed_total",
    "Currently banned": "banned",
    "Total banned": "banned_total",
}


def parse_status(text: str) -> dict[str, JailStatus]:
    """``{jail: JailStatus}`` from the status file; one that is not fail2ban's answer raises.

    The first block is ``fail2ban-client status`` (its ``Jail list``); a block per jail
    follows. A jail listed without its block, or a block without one of the four counts, raises.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "Status":
        first = lines[0].strip() if lines else "(empty)"
        raise ExporterError(f"fail2ban did not answer: {first}")
    listed: list[str] | None = None
    blocks: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in lines[1:]:
        header = _JAIL.match(line)
        if header:
            current = blocks.setdefault(header.group("jail"), {})
            continue
        field = _FIELD.match(line)
        if not field:
            continue
        key, value = field.group("key").strip(), field.group("value").strip()
        if current is None and key == "Jail list":
            listed = [j.strip() for j in value.split(",") if j.strip()]
        elif current is not None and key in _KEYS:
            if not value.isdigit():
                raise ExporterError(f"fail2ban status: {key}: {value!r} is not a count")
            current[_KEYS[key]] = int(value)
    if listed is None:
        raise ExporterError("fail2ban status: no jail list")
    status: dict[str, JailStatus] = {}
    for jail in listed:
        counts = blocks.get(jail, {})
        missing = sorted(set(_KEYS.values()) - set(counts))
        if missing:
            raise ExporterError(f"fail2ban status of jail {jail}: missing {', '.join(missing)}")
        status[jail] = JailStatus(**counts)
    return status


class Fail2banCollector(Collector):
    """Bans and failures per jail, from the fail2ban role's status file::

        # HELP pdic_fail2ban_up 1 if fail2ban answered within the last max_age_seconds, else 0.
        # HELP pdic_fail2ban_banned Addresses the jail bans now.
        # HELP pdic_fail2ban_bans_total Bans of the jail since fail2ban started.
        # HELP pdic_fail2ban_failed_total Login failures the jail counted since fail2ban started.

    Label: ``jail``. The file is read at each scrape (it is small).
    """

    def __init__(
        self,
        status_file: str | Path = DEFAULT_STATUS_FILE,
        now: Callable[[], float] = time.time,
        max_age_seconds: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.status_file = status_file
        self.max_age_seconds = max_age_seconds
        self._now = now

    def read(self) -> dict[str, JailStatus] | None:
        """The jails' counts, or None when fail2ban did not answer recently."""
        path = Path(self.status_file)
        try:
            age = self._now() - path.stat().st_mtime
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        if age > self.max_age_seconds:
            return None
        try:
            return parse_status(text)
        except ExporterError:
            return None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self.read()
        up = GaugeMetricFamily(
            "pdic_fail2ban_up",
            "1 if fail2ban answered within the last max_age_seconds, else 0.",
        )
        up.add_metric([], 0.0 if status is None else 1.0)
        yield up
        banned = GaugeMetricFamily(
            "pdic_fail2ban_banned", "Addresses the jail bans now.", labels=["jail"]
        )
        bans = CounterMetricFamily(
            "pdic_fail2ban_bans", "Bans of the jail since fail2ban started.", labels=["jail"]
        )
        failed = CounterMetricFamily(
            "pdic_fail2ban_failed",
            "Login failures the jail counted since fail2ban started.",
            labels=["jail"],
        )
        for jail, counts in (status or {}).items():
            banned.add_metric([jail], counts.banned)
            bans.add_metric([jail], counts.banned_total)
            failed.add_metric([jail], counts.failed_total)
        yield banned
        yield bans
        yield failed
