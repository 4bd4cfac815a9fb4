"""The aide role's check script, ``pdic-aide-check``, on reports recorded from AIDE 0.18.3.

Its functions are read with ``PDIC_AIDE_LIBRARY=1`` (the summary's counts, the entries of each
kind); whole runs use a stand-in ``aide`` that prints a recorded report with its exit status
and, for ``--update``, writes a new database: the published textfile, the exit status, and when
a deploy's end updates the baseline. Nothing here needs AIDE or root.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from pdic.compliance.checks.base import textfile_samples

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "aide" / "files" / "usr" / "local" / "sbin" / "pdic-aide-check"
FIXTURES = Path(__file__).parent / "fixtures" / "aide"

FAKE_AIDE = """#!/bin/sh
case "$1" in
    --update) cat "$FAKE_REPORT"; echo new > "$FAKE_DATABASE.new"; exit "$FAKE_STATUS" ;;
    --check) cat "$FAKE_REPORT"; exit "$FAKE_STATUS" ;;
esac
exit 17
"""


def _library(call: str) -> str:
    result = subprocess.run(
        ["sh", "-c", f'. "$0"; {call}', str(SCRIPT)],
        env={**os.environ, "PDIC_AIDE_LIBRARY": "1", "PDIC_AIDE_DEFAULTS": "/nonexistent"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize(
    ("fixture", "counts"),
    [
        ("check-differences.txt", "1 1 2"),
        ("check-no-differences.txt", "0 0 0"),
        ("check-no-database.txt", "0 0 0"),
    ],
)
def test_summary_counts_added_removed_changed(fixture: str, counts: str) -> None:
    assert _library(f"aide_summary {FIXTURES / fixture}").strip() == counts


def test_entries_are_listed_by_kind_without_the_details() -> None:
    assert _library(f"aide_entries {FIXTURES / 'check-differences.txt'}").splitlines() == [
        "added /tmp/at/root/etc/c",
        "removed /tmp/at/root/etc/sub/b",
        "changed /tmp/at/root/etc/a",
        "changed /tmp/at/root/etc/sub",
    ]


def test_the_older_summary_wording_is_read_too(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text(
        "Summary:\n  Total number of files:\t40\n  Added files:\t\t3\n"
        "  Removed files:\t\t0\n  Changed files:\t\t5\n",
        encoding="utf-8",
    )
    assert _library(f"aide_summary {report}").strip() == "3 0 5"


class Host:
    """A host's paths in tmp_path, the stand-in aide, and runs of the script against them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.textfile = root / "textfile" / "pdic_aide.prom"
        self.textfile.parent.mkdir()
        self.database = root / "aide.db"
        self.database.write_text("old\n", encoding="utf-8")
        self.report = root / "report.txt"
        aide = root / "aide"
        aide.write_text(FAKE_AIDE, encoding="utf-8")
        aide.chmod(0o755)
        defaults = root / "defaults"
        defaults.write_text(
            f"PDIC_AIDE_CONFIG={root}/aide.conf\nPDIC_AIDE_DATABASE={self.database}\n"
            f"PDIC_AIDE_TEXTFILE={self.textfile}\nPDIC_AIDE_STATE_DIR={root}/state\n"
            f"PDIC_AIDE={aide}\n",
            encoding="utf-8",
        )
        self.env = {**os.environ, "PDIC_AIDE_DEFAULTS": str(defaults)}

    def run(
        self, report: str, status: int, *args: str, paths: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        text = (FIXTURES / report).read_text(encoding="utf-8")
        for old, new in (paths or {}).items():
            text = text.replace(old, new)
        self.report.write_text(text, encoding="utf-8")
        env = {
            **self.env,
            "FAKE_REPORT": str(self.report),
            "FAKE_STATUS": str(status),
            "FAKE_DATABASE": str(self.database),
        }
        return subprocess.run(
            [str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False
        )

    def metrics(self) -> dict[str, float]:
        return textfile_samples(self.textfile.read_text(encoding="utf-8"))


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_a_check_publishes_the_counts_by_kind(host: Host) -> None:
    before = time.time()
    result = host.run("check-differences.txt", 7)
    assert result.returncode == 0, result.stderr
    metrics = host.metrics()
    assert metrics["pdic_aide_check_success"] == 1
    assert metrics['pdic_aide_changed_files{kind="added"}'] == 1
    assert metrics['pdic_aide_changed_files{kind="removed"}'] == 1
    assert metrics['pdic_aide_changed_files{kind="changed"}'] == 2
    assert metrics["pdic_aide_last_check_timestamp_seconds"] >= int(before)
    assert host.database.read_text(encoding="utf-8") == "old\n"
    assert (host.root / "state" / "last-check.txt").is_file()
    assert not list(host.textfile.parent.glob(".pdic_aide.prom.*")), "temporary file left behind"


def test_no_differences_publish_zeros(host: Host) -> None:
    assert host.run("check-no-differences.txt", 0).returncode == 0
    metrics = host.metrics()
    assert metrics["pdic_aide_check_success"] == 1
    assert sum(v for k, v in metrics.items() if k.startswith("pdic_aide_changed_files")) == 0


def test_a_check_that_cannot_run_publishes_failure_and_no_counts(host: Host) -> None:
    result = host.run("check-no-database.txt", 18)
    assert result.returncode == 1
    assert "No such file or directory" in result.stderr
    metrics = host.metrics()
    assert metrics["pdic_aide_check_success"] == 0
    assert not any(k.startswith("pdic_aide_changed_files") for k in metrics)


def test_accept_makes_the_files_the_baseline(host: Host) -> None:
    result = host.run("check-differences.txt", 7, "--accept")
    assert result.stdout.strip() == "baseline updated"
    assert host.database.read_text(encoding="utf-8") == "new\n"
    assert host.metrics()['pdic_aide_changed_files{kind="changed"}'] == 0


@pytest.mark.parametrize("since", ["", "soon", "12x"])
def test_deploy_since_needs_a_unix_time(host: Host, since: str) -> None:
    result = host.run("check-no-differences.txt", 0, "--deploy-since", since)
    assert result.returncode == 2
    assert "Unix time" in result.stderr


def test_a_deploy_that_changed_nothing_leaves_the_baseline(host: Host) -> None:
    result = host.run("check-no-differences.txt", 0, "--deploy-since", "0")
    assert result.returncode == 0
    assert result.stdout == ""
    assert host.database.read_text(encoding="utf-8") == "old\n"


def _tree(host: Host) -> dict[str, str]:
    """The report's paths moved into tmp_path: c and a exist now (changed during the deploy),
    sub/b was removed from an existing directory, sub itself exists."""
    tree = host.root / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "c").write_text("c\n", encoding="utf-8")
    (tree / "a").write_text("a\n", encoding="utf-8")
    return {"/tmp/at/root/etc": str(tree)}


def test_a_deploy_takes_its_own_changes_into_the_baseline(host: Host) -> None:
    paths = _tree(host)
    since = str(int(time.time()) - 60)
    result = host.run("check-differences.txt", 7, "--deploy-since", since, paths=paths)
    assert result.stdout.strip() == "baseline updated"
    assert host.database.read_text(encoding="utf-8") == "new\n"
    metrics = host.metrics()
    assert sum(v for k, v in metrics.items() if k.startswith("pdic_aide_changed_files")) == 0


def test_changes_older_than_the_deploy_stay_published_and_kept(host: Host) -> None:
    paths = _tree(host)
    (host.root / "tree" / "a").unlink()  # a path with no ctime counts as changed before
    since = str(int(time.time()) - 60)
    result = host.run("check-differences.txt", 7, "--deploy-since", since, paths=paths)
    assert result.stdout.strip() == "baseline updated"
    metrics = host.metrics()
    assert metrics['pdic_aide_changed_files{kind="changed"}'] == 1
    assert metrics['pdic_aide_changed_files{kind="added"}'] == 0
    kept = (host.root / "state" / "before-deploy.txt").read_text(encoding="utf-8")
    assert f"{paths['/tmp/at/root/etc']}/a" in kept


def test_hand_edits_alone_are_never_taken_in_by_a_deploy(host: Host) -> None:
    paths = _tree(host)
    since = str(int(time.time()) + 3600)
    result = host.run("check-differences.txt", 7, "--deploy-since", since, paths=paths)
    assert result.returncode == 0
    assert result.stdout == ""
    assert host.database.read_text(encoding="utf-8") == "old\n"
    assert host.metrics()['pdic_aide_changed_files{kind="changed"}'] == 2
