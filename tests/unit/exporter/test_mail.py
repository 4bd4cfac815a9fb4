"""MailQueueCollector on constructed `postqueue -j` output (fixtures/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pdic.exporter.mail import MailQueueCollector, parse_postqueue, run_postqueue
from pdic.exporter.sources import ExporterError

from .conftest import NOW

FIXTURE = (Path(__file__).parent / "fixtures" / "postqueue-j.jsonl").read_text()


def registry_for(output: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(MailQueueCollector(lambda: output, now=lambda: NOW))
    return registry


def queue(reg: CollectorRegistry, name: str) -> float | None:
    return reg.get_sample_value("pdic_mail_queue_messages", {"queue": name})


def test_counts_per_queue_and_oldest_age() -> None:
    reg = registry_for(FIXTURE)
    assert [queue(reg, q) for q in ("active", "deferred", "hold", "incoming", "maildrop")] == [
        1.0,
        2.0,
        1.0,
        1.0,
        0.0,
    ]
    assert reg.get_sample_value("pdic_mail_queue_oldest_message_age_seconds") == NOW - 1764213600


def test_empty_queues_are_zero() -> None:
    reg = registry_for("")
    for name in ("active", "deferred", "hold", "incoming", "maildrop"):
        assert queue(reg, name) == 0.0
    assert reg.get_sample_value("pdic_mail_queue_oldest_message_age_seconds") == 0.0


def test_unknown_queue_name_is_counted_too() -> None:
    reg = registry_for('{"queue_name": "corrupt", "arrival_time": 1764299000}\n')
    assert queue(reg, "corrupt") == 1.0
    assert queue(reg, "active") == 0.0


def test_arrival_ahead_of_the_clock_is_age_zero() -> None:
    reg = registry_for(f'{{"queue_name": "active", "arrival_time": {NOW + 30:.0f}}}\n')
    assert reg.get_sample_value("pdic_mail_queue_oldest_message_age_seconds") == 0.0


@pytest.mark.parametrize(
    "line",
    [
        "postqueue: fatal: Queue report unavailable - mail system is down",
        '{"queue_name": "active"}',
        '{"queue_name": "", "arrival_time": 1}',
        '{"queue_name": "active", "arrival_time": "yesterday"}',
        '{"queue_name": "active", "arrival_time": true}',
        '["active", 1]',
    ],
)
def test_bad_output_fails_the_scrape(line: str) -> None:
    with pytest.raises(ExporterError, match="line 2"):
        parse_postqueue(FIXTURE.splitlines()[0] + "\n" + line + "\n")


def test_runner_failure_fails_the_scrape() -> None:
    def down() -> str:
        raise ExporterError("postqueue -j: mail system is down")

    registry = CollectorRegistry()
    registry.register(MailQueueCollector(down, now=lambda: NOW))
    with pytest.raises(ExporterError, match="mail system is down"):
        generate_latest(registry)


def test_run_postqueue_returns_stdout() -> None:
    command = [sys.executable, "-c", "print('{}')"]
    assert run_postqueue(command) == "{}\n"


def test_run_postqueue_failure_names_the_reason() -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('postqueue: fatal: Queue report unavailable"
        " - mail system is down\\n'); sys.exit(69)",
    ]
    with pytest.raises(ExporterError, match="mail system is down"):
        run_postqueue(command)


def test_run_postqueue_missing_command() -> None:
    with pytest.raises(ExporterError, match="no-such-postqueue"):
        run_postqueue(["/nonexistent/no-such-postqueue", "-j"])


def test_run_postqueue_timeout() -> None:
    with pytest.raises(ExporterError, match="timed out"):
        run_postqueue([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)


def test_subprocess_is_not_run_through_a_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.update(argv=argv, shell=kwargs.get("shell", False))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    run_postqueue()
    assert seen == {"argv": ["postqueue", "-j"], "shell": False}
