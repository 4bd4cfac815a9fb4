"""Alert rules under monitoring/prometheus/ are valid, tested and documented.

promtool checks every rule file and runs every unit-test file (skipped when promtool is not
installed, an error under ``CI``: Debian's ``prometheus`` package ships it). Without promtool,
the rule files are still read as YAML here: every alert carries a severity, a team, a summary
and a runbook that exists, and every alert name has a promtool case where it fires and one
where it stays quiet (``exp_alerts: []``). The Watchdog is the one exception: severity
``none``, no label to name, always firing, so it has no quiet case.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "monitoring" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*_test.yml"))
SEVERITIES = {"critical", "warning", "info"}
TEAMS = {"platform", "web", "database", "mail", "security"}
RUNBOOKS = ROOT / "monitoring" / "runbooks"
WATCHDOG = "Watchdog"
MIN_ALERTS = 35


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (apt-get install prometheus); required under CI")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def _alerts() -> list[tuple[str, dict[str, Any]]]:
    """(rule file name, rule) for every alerting rule of every rule file."""
    found = []
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.append((path.name, rule))
    return found


def _cases() -> tuple[set[str], set[str]]:
    """Alert names with a firing case, and alert names with an ``exp_alerts: []`` case."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    return firing, quiet


ALERTS = _alerts()
ALERT_NAMES = sorted({rule["alert"] for _, rule in ALERTS})
FIRING, QUIET = _cases()


def test_there_are_rule_and_test_files() -> None:
    assert {p.name for p in RULE_FILES} == {f"{team}.yml" for team in TEAMS}
    assert {p.name for p in TEST_FILES} == {f"{team}_test.yml" for team in TEAMS}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(path: Path) -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("file", "rule"), ALERTS, ids=[f"{f}:{r['alert']}" for f, r in ALERTS])
def test_alert_is_labelled_and_documented(file: str, rule: dict[str, Any]) -> None:
    name = rule["alert"]
    labels = rule.get("labels", {})
    annotations = rule.get("annotations", {})
    if name == WATCHDOG:
        assert rule["expr"] == "vector(1)" and labels.get("severity") == "none"
    else:
        assert labels.get("severity") in SEVERITIES, f"{name}: severity"
        assert "{{ $labels." in annotations.get("summary", ""), f"{name}: summary names no label"
    assert labels.get("team") == file.removesuffix(".yml"), f"{name}: team must match its file"
    assert annotations.get("description"), f"{name}: description"
    assert annotations.get("runbook_url") == f"monitoring/runbooks/{name}.md"
    assert (ROOT / annotations["runbook_url"]).is_file(), f"{name}: runbook missing"


def test_there_are_enough_alerts() -> None:
    assert len(ALERT_NAMES) >= MIN_ALERTS, ALERT_NAMES


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_a_firing_and_a_quiet_case(name: str) -> None:
    assert name in FIRING, f"{name}: no promtool case where it fires"
    if name != WATCHDOG:
        assert name in QUIET, f"{name}: no promtool case with exp_alerts: []"


def test_every_runbook_belongs_to_an_alert() -> None:
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages == set(ALERT_NAMES)
