"""Fail2banCollector and the status file the fail2ban role writes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pdic.exporter.fail2ban import Fail2banCollector, JailStatus, parse_status
from pdic.exporter.sources import ExporterError

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1764300000.0

SSHD_ONLY = (
    "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"
    "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t0\n"
    "|  |- Total failed:\t3\n"
    "|  `- Journal matches:\t_SYSTEMD_UNIT=ssh.service + _COMM=sshd\n"
    "`- Actions\n   |- Currently banned:\t1\n   |- Total banned:\t1\n"
    "   `- Banned IP list:\t10.251.0.13\n"
)


def _status_file(tmp_path: Path, fixture: str, age: float = 30.0) -> Path:
    path = tmp_path / "status"
    shutil.copy(FIXTURES / fixture, path)
    os.utime(path, (NOW - age, NOW - age))
    return path


def registry_for(path: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(Fail2banCollector(path, lambda: NOW, 180))
    return registry


def test_parse_reads_every_listed_jail() -> None:
    text = (FIXTURES / "fail2ban-status-mail.txt").read_text()
    assert parse_status(text) == {
        "dovecot": JailStatus(failed=0, failed_total=0, banned=0, banned_total=0),
        "postfix-sasl": JailStatus(failed=2, failed_total=14, banned=1, banned_total=2),
        "sshd": JailStatus(failed=0, failed_total=3, banned=1, banned_total=1),
    }


def test_parse_reads_one_jail() -> None:
    assert parse_status(SSHD_ONLY) == {
        "sshd": JailStatus(failed=0, failed_total=3, banned=1, banned_total=1)
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"did not answer: \(empty\)"),
        ("pdic: fail2ban-client status failed: no socket\n", "did not answer: pdic:"),
        ("Status\n|- Number of jail:\t0\n", "no jail list"),
        (SSHD_ONLY.split("Status for the jail")[0], "jail sshd: missing banned, banned_total"),
        (SSHD_ONLY.replace("Total banned:\t1", "Total banned:\tmany"), "'many' is not a count"),
    ],
)
def test_parse_refuses_what_is_not_an_answer(text: str, message: str) -> None:
    with pytest.raises(ExporterError, match=message):
        parse_status(text)


def test_each_jail_reports_bans_and_failures(tmp_path: Path) -> None:
    reg = registry_for(_status_file(tmp_path, "fail2ban-status-mail.txt"))
    assert reg.get_sample_value("pdic_fail2ban_up") == 1.0
    assert reg.get_sample_value("pdic_fail2ban_banned", {"jail": "sshd"}) == 1.0
    assert reg.get_sample_value("pdic_fail2ban_bans_total", {"jail": "postfix-sasl"}) == 2.0
    assert reg.get_sample_value("pdic_fail2ban_failed_total", {"jail": "postfix-sasl"}) == 14.0
    assert reg.get_sample_value("pdic_fail2ban_banned", {"jail": "dovecot"}) == 0.0


@pytest.mark.parametrize(
    ("fixture", "age"),
    [("fail2ban-status-down.txt", 30.0), ("fail2ban-status-mail.txt", 181.0)],
    ids=["fail2ban-down", "stale-file"],
)
def test_no_recent_answer_is_down_without_jail_series(
    tmp_path: Path, fixture: str, age: float
) -> None:
    reg = registry_for(_status_file(tmp_path, fixture, age))
    assert reg.get_sample_value("pdic_fail2ban_up") == 0.0
    assert reg.get_sample_value("pdic_fail2ban_bans_total", {"jail": "sshd"}) is None


def test_a_missing_file_is_down(tmp_path: Path) -> None:
    reg = registry_for(tmp_path / "never-written")
    assert reg.get_sample_value("pdic_fail2ban_up") == 0.0
