"""Alert rules under monitoring/prometheus/ are valid, tested and documented.

promtool checks every rule file and runs every unit-test file (skipped when promtool is not
installed, an error under ``CI``: Debian's ``prometheus`` package ships it). Without promtool,
the rule files are still read as YAML here: every alert carries a severity, a team, a summary
and a runbook that exists, and every alert name has a promtool case where it fires and one
where it stays quiet (``exp_alerts: []``). The Watchdog is the one exception: severity
``none``, no label to name, always firing, so it has no quiet case.

Runbooks (monitoring/runbooks/<Alert>.md) are bilingual: the Vietnamese part first (on-call
staff read it first), then the English one, each with the same four sections under fixed
headings, the same commands (every code span of one part is in the other), and the alert's
severity and team as the rules set them. Every ``pdic`` command a runbook gives exists in the
CLI with the options it uses, and every pdic or pgBackRest unit it names is one a role installs
(or contrib/systemd ships for the control machine).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from pdic.cli import app

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "monitoring" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*_test.yml"))
SEVERITIES = {"critical", "warning", "info"}
TEAMS = {"platform", "web", "database", "mail", "security"}
RUNBOOKS = ROOT / "monitoring" / "runbooks"
WATCHDOG = "Watchdog"
MIN_ALERTS = 35
# The two parts of a runbook and their sections, in this order.
VIETNAMESE = "## Tiếng Việt"
ENGLISH = "## English"
SECTIONS = {
    VIETNAMESE: ["Ý nghĩa", "Kiểm tra trước tiên", "Cách khắc phục", "Khi nào báo cấp trên"],
    ENGLISH: ["What it means", "First checks", "How to fix", "Escalate"],
}
# Letters only Vietnamese writes (with their tone marks): a part without them is not Vietnamese.
VIETNAMESE_LETTERS = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")


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


def _parts(text: str) -> dict[str, str]:
    """The Vietnamese and English parts of a runbook (each from its heading to the next)."""
    starts = {h: text.find(f"\n{h}\n") for h in SECTIONS}
    assert all(i >= 0 for i in starts.values()), f"a part is missing: {list(SECTIONS)}"
    assert starts[VIETNAMESE] < starts[ENGLISH], "the Vietnamese part comes first"
    return {
        VIETNAMESE: text[starts[VIETNAMESE] : starts[ENGLISH]],
        ENGLISH: text[starts[ENGLISH] :],
    }


def _code_spans(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_runbook_is_bilingual_with_the_same_sections(name: str) -> None:
    text = (RUNBOOKS / f"{name}.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {name} — "), "first line: # <Alert> — <Vietnamese title>"
    parts = _parts(text)
    for heading, part in parts.items():
        found = re.findall(r"^### (.+)$", part, flags=re.MULTILINE)
        assert found == SECTIONS[heading], f"{heading}: sections {found}"
        for section in re.split(r"^### .+$", part, flags=re.MULTILINE)[1:]:
            assert section.strip(), f"{heading}: an empty section"
    assert len(VIETNAMESE_LETTERS.findall(parts[VIETNAMESE])) >= 20, "not written in Vietnamese"
    assert not VIETNAMESE_LETTERS.search(parts[ENGLISH]), "Vietnamese in the English part"
    vi, en = (_code_spans(parts[h]) for h in (VIETNAMESE, ENGLISH))
    assert vi == en, f"commands only in Vietnamese: {vi - en}; only in English: {en - vi}"


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_runbook_states_the_rules_severity_and_team(name: str) -> None:
    head = (RUNBOOKS / f"{name}.md").read_text(encoding="utf-8").split(f"\n{VIETNAMESE}\n")[0]
    match = re.search(r"^\*\*Mức độ / Severity:\*\* (.+) · \*\*Nhóm / Team:\*\* (\S+)$", head, re.M)
    assert match, "no '**Mức độ / Severity:** ... · **Nhóm / Team:** ...' line"
    rules = [rule for _, rule in ALERTS if rule["alert"] == name]
    assert set(match.group(1).split(" / ")) == {r["labels"]["severity"] for r in rules}
    assert match.group(2) == rules[0]["labels"]["team"]


def _pdic_commands() -> list[tuple[str, str]]:
    """(runbook, command) for every code span that is a pdic command."""
    found = []
    for path in sorted(RUNBOOKS.glob("*.md")):
        for span in _code_spans(path.read_text(encoding="utf-8")):
            if span.startswith("pdic "):
                found.append((path.name, span))
    return found


@pytest.mark.parametrize(("page", "command"), _pdic_commands())
def test_runbook_pdic_commands_exist(page: str, command: str) -> None:
    words = shlex.split(command)[1:]
    # A group has subcommands by name (typer's own click: no isinstance on click's classes).
    current: Any = typer.main.get_command(app)
    while getattr(current, "commands", None) and words and not words[0].startswith("-"):
        sub = current.commands.get(words[0])
        assert sub is not None, f"{page}: no command {words[0]!r} in {command!r}"
        current = sub
        words = words[1:]
    assert not getattr(current, "commands", None), f"{page}: {command!r} names no command"
    options = {o for p in current.params for o in (*p.opts, *p.secondary_opts)}
    used = {w.split("=", 1)[0] for w in words if w.startswith("-")}
    assert used <= options, f"{page}: {command!r}: unknown options {sorted(used - options)}"


def _units_installed() -> set[str]:
    """Units the roles write (their templates under etc/systemd/system) and those pdic ships
    for the control machine (contrib/systemd), by file name."""
    return {
        p.name.removesuffix(".j2")
        for p in (ROOT / "roles").glob("*/templates/etc/systemd/system/*.j2")
    } | {p.name for p in (ROOT / "contrib" / "systemd").glob("*.*")}


def test_runbook_units_are_the_roles_units() -> None:
    """pdic's and pgBackRest's unit names in the runbooks are those the roles install, or
    contrib/systemd for the control machine (pgbackrest-backup@full.service is an instance of
    pgbackrest-backup@.service)."""
    installed = _units_installed()
    named = re.compile(r"\b((?:pdic|pgbackrest)-[a-z0-9@.-]*?)(\.service|\.timer)\b")
    wrong = []
    for path in sorted(RUNBOOKS.glob("*.md")):
        for unit, kind in named.findall(path.read_text(encoding="utf-8")):
            template = re.sub(r"@[^.]+$", "@", unit) + kind
            if unit + kind not in installed and template not in installed:
                wrong.append(f"{path.name}: {unit}{kind}")
    assert not wrong
