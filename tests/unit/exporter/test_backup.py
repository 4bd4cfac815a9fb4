"""BackupCollector and the backup state file format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pdic.exporter.backup import BackupCollector
from pdic.exporter.sources import ExporterError


def registry_for(path: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(BackupCollector(path))
    return registry


def test_each_stanza_reports_backup_and_drill(tmp_path: Path) -> None:
    state = tmp_path / "backup-state.json"
    state.write_text(
        json.dumps(
            {
                "stanzas": {
                    "main": {"last_success": 1764300000, "last_drill_success": 1763700000.5},
                    "hcc": {"last_success": 1764290000},
                },
                "writer": "pdic-backup 1",
            }
        )
    )
    reg = registry_for(state)
    backup = "pdic_backup_last_success_timestamp_seconds"
    drill = "pdic_restore_drill_last_success_timestamp_seconds"
    assert reg.get_sample_value(backup, {"stanza": "main"}) == 1764300000
    assert reg.get_sample_value(drill, {"stanza": "main"}) == 1763700000.5
    assert reg.get_sample_value(backup, {"stanza": "hcc"}) == 1764290000
    assert reg.get_sample_value(drill, {"stanza": "hcc"}) == 0.0


def test_file_is_read_at_each_scrape(tmp_path: Path) -> None:
    state = tmp_path / "backup-state.json"
    state.write_text('{"stanzas": {"main": {"last_success": 0}}}')
    reg = registry_for(state)
    name, labels = "pdic_backup_last_success_timestamp_seconds", {"stanza": "main"}
    assert reg.get_sample_value(name, labels) == 0.0
    state.write_text('{"stanzas": {"main": {"last_success": 1764300000}}}')
    assert reg.get_sample_value(name, labels) == 1764300000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not JSON"),
        ("[]", "'stanzas' object"),
        ('{"stanzas": []}', "'stanzas' object"),
        ('{"stanzas": {"main": 5}}', r"stanzas\.main: expected an object"),
        ('{"stanzas": {"main": {"last_success": "2025-11-28"}}}', r"main\.last_success"),
        ('{"stanzas": {"main": {"last_success": -1}}}', r"main\.last_success"),
        ('{"stanzas": {"main": {"last_drill_success": true}}}', r"main\.last_drill_success"),
    ],
)
def test_bad_state_fails_the_scrape(tmp_path: Path, content: str, message: str) -> None:
    state = tmp_path / "backup-state.json"
    state.write_text(content)
    with pytest.raises(ExporterError, match=message):
        generate_latest(registry_for(state))


def test_missing_state_file_fails_the_scrape(tmp_path: Path) -> None:
    with pytest.raises(ExporterError, match="No such file"):
        generate_latest(registry_for(tmp_path / "backup-state.json"))
