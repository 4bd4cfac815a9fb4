"""When backups and restore drills last succeeded, from the backup state file.

The state file (default ``/var/lib/pdic/backup-state.json``) is written by whatever runs the
backups and the drills, after each success, by writing a temporary file and renaming it::

    {
      "stanzas": {
        "main": {"last_success": 1764300000, "last_drill_success": 1763700000}
      }
    }

``stanzas`` maps each pgBackRest stanza to Unix times (seconds, integer or fractional) of the
last successful backup (``last_success``) and restore drill (``last_drill_success``); a key that
is missing or 0 means it never succeeded. Other keys are ignored, so a writer may add its own.
The file must exist where the collector is on (the role that installs the backup creates it
with the stanza and zeros): a missing or malformed file fails the scrape.

It does not run pgBackRest or read its repository (``pgbackrest info`` needs the repository
host and credentials); it only reports what the writers recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pdic.exporter.sources import ExporterError

DEFAULT_STATE_FILE = "/var/lib/pdic/backup-state.json"
_KEYS = ("last_success", "last_drill_success")


def load_backup_state(path: str | Path) -> dict[str, dict[str, float]]:
    """``{stanza: {"last_success": t, "last_drill_success": t}}``; bad content raises."""
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExporterError(f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ExporterError(f"{path}: not JSON: {exc}") from exc
    stanzas = data.get("stanzas") if isinstance(data, dict) else None
    if not isinstance(stanzas, dict):
        raise ExporterError(f"{path}: expected an object with a 'stanzas' object")
    state: dict[str, dict[str, float]] = {}
    for name, entry in stanzas.items():
        if not name or not isinstance(entry, dict):
            raise ExporterError(f"{path}: stanzas.{name}: expected an object")
        state[name] = {key: _timestamp(path, name, key, entry) for key in _KEYS}
    return state


def _timestamp(path: str | Path, stanza: str, key: str, entry: Mapping[str, Any]) -> float:
    value = entry.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ExporterError(f"{path}: stanzas.{stanza}.{key}: expected a Unix time >= 0")
    return float(value)


class BackupCollector(Collector):
    """Last successful backup and restore drill per stanza, from the backup state file::

        # HELP pdic_backup_last_success_timestamp_seconds Unix time of the last successful backup (0 if none).
        # HELP pdic_restore_drill_last_success_timestamp_seconds Unix time of the last successful restore drill (0 if none).

    Label: ``stanza``. The file is read at each scrape (it is small).
    """  # noqa: E501

    def __init__(self, state_file: str | Path = DEFAULT_STATE_FILE) -> None:
        self.state_file = state_file

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = load_backup_state(self.state_file)
        backup = GaugeMetricFamily(
            "pdic_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup (0 if none).",
            labels=["stanza"],
        )
        drill = GaugeMetricFamily(
            "pdic_restore_drill_last_success_timestamp_seconds",
            "Unix time of the last successful restore drill (0 if none).",
            labels=["stanza"],
        )
        for stanza, times in state.items():
            backup.add_metric([stanza], times["last_success"])
            drill.add_metric([stanza], times["last_drill_success"])
        yield backup
        yield drill
