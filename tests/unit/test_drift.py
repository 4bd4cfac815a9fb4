"""pdic drift without Ansible or hosts: the callback's diffs, the report and its masking, the
metrics file and its merging, publishing through a fake host, the command's exit codes.

The recorded check run (fixtures/drift/results.json) is what Ansible hands the pdic_summary
callback; the callback writes the summary that :func:`pdic.deploy.read_diffs` reads, so the
chain from a task's result to the printed report is tested as one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pdic import drift
from pdic.ansible_plugins.callback.pdic_summary import CallbackModule, render_diff
from pdic.cli import main
from pdic.deploy import DeployResult, HostSummary, TaskDiff, read_diffs, read_summary
from pdic.drift import DriftReport, HostDrift, PublishFailed
from pdic.inventory import load_valid_inventory

REPO = Path(__file__).resolve().parents[2]
VALID_PATH = REPO / "tests" / "inventory_corpus" / "_valid"
VALID = load_valid_inventory(VALID_PATH)
FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = json.loads((FIXTURES / "drift" / "results.json").read_text())
NOW = 1767225600.0  # 2026-01-01T00:00:00Z
SECRETS = ("old-hunter2", "new-hunter3", "tok-old-123", "tok-new-456", "s3cr3t")


@pytest.fixture(autouse=True)
def _no_processes(no_processes: None) -> None:
    """No Ansible, no SSH: a unit test that starts a process fails."""


class _Named:
    def __init__(self, name: str, no_log: bool = False) -> None:
        self._name = name
        self.no_log = no_log

    def get_name(self) -> str:
        return self._name


class _Result:
    def __init__(self, host: str, task: str, result: dict[str, Any], no_log: bool) -> None:
        self._host = _Named(host)
        self._task = _Named(task, no_log)
        self._result = result


class _Stats:
    def __init__(self, stats: dict[str, dict[str, int]]) -> None:
        self.processed = dict.fromkeys(stats, 1)
        self._stats = stats

    def summarize(self, host: str) -> dict[str, int]:
        return self._stats[host]


def _recorded_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The summary the callback writes for the recorded check run."""
    path = tmp_path / "summary.json"
    monkeypatch.setenv("PDIC_SUMMARY_FILE", str(path))
    callback = CallbackModule()
    for r in RECORDED["results"]:
        callback.v2_runner_on_ok(_Result(r["host"], r["task"], r["result"], r["no_log"]))
    callback.v2_playbook_on_stats(_Stats(RECORDED["stats"]))
    return path


def _recorded_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DeployResult:
    path = _recorded_summary(tmp_path, monkeypatch)
    hosts, changed = read_summary(path)
    return DeployResult(2, hosts, changed, "", None, read_diffs(path))


# --------------------------------------------------------------------------------------------
# the callback


def test_a_template_diff_is_a_unified_diff_with_its_headers() -> None:
    [recorded] = [r for r in RECORDED["results"] if r["task"].startswith("Nginx's portal")]
    text = render_diff(recorded["result"]["diff"])
    assert text.splitlines() == [
        "--- before: /etc/nginx/sites-available/portal.conf",
        "+++ after: /tmp/ansible-local/portal.conf.j2",
        "@@ -1,5 +1,5 @@",
        " server {",
        "     listen 443 ssl;",
        "     server_name portal.example.vn;",
        "-    client_max_body_size 10m;",
        "+    client_max_body_size 20m;",
        " }",
    ]


def test_a_diff_of_structures_is_sorted_json_and_a_missing_newline_is_said() -> None:
    text = render_diff({"before": {"state": "absent"}, "after": {"state": "directory"}})
    assert '-    "state": "absent"' in text.splitlines()
    assert '+    "state": "directory"' in text.splitlines()
    text = render_diff({"before": "a\n", "after": "a\nb", "prepared": "rebuilt"})
    assert text.endswith("+b\n\\ No newline at end of file\nrebuilt\n")
    assert render_diff({"dst_binary": 1}) == "diff skipped: destination file appears to be binary\n"
    assert render_diff([{"before": "same\n", "after": "same\n"}]) == ""


def test_the_callback_writes_a_diff_per_changed_task_and_none_for_no_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _recorded_summary(tmp_path, monkeypatch)
    data = json.loads(path.read_text())
    assert set(data) == {"hosts", "changed_tasks", "changed_diffs"}
    portal = data["changed_diffs"]["portal-1"]
    assert [e["task"] for e in portal] == data["changed_tasks"]["portal-1"]
    assert len(portal) == 4  # "Nginx runs" did not change
    hidden = portal[2]
    assert hidden == {"task": "The database password of the application is set", "diff": "",
                      "no_log": True}  # fmt: skip
    assert portal[3] == {"task": "Nginx is reloaded", "diff": "", "no_log": False}
    # a loop: the diffs of its changed items; one item under no_log hides the whole task
    [users] = data["changed_diffs"]["db-1"][1:]
    assert "+secret_key: s3cr3t" in users["diff"]
    assert "user a" not in users["diff"]
    assert data["changed_diffs"]["mail-1"][0] == {
        "task": "The mail users are in place",
        "diff": "",
        "no_log": True,
    }


def test_a_task_marked_no_log_hides_its_diff_even_if_the_result_carries_one() -> None:
    callback = CallbackModule()
    result = {"changed": True, "diff": {"before": "password=a\n", "after": "password=b\n"}}
    callback.v2_runner_on_ok(_Result("h", "t", result, no_log=True))
    assert callback._diffs == {"h": [{"task": "t", "diff": "", "no_log": True}]}


def test_read_diffs_of_a_summary_without_diffs_names_the_tasks() -> None:
    diffs = read_diffs(FIXTURES / "deploy-summary.json")
    assert diffs["db-1"][1] == TaskDiff("chrony is restarted")
    assert read_diffs(FIXTURES / "no-such-file.json") == {}


# --------------------------------------------------------------------------------------------
# the report


def _report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str | None = None) -> Any:
    result = _recorded_result(tmp_path, monkeypatch)
    calls: list[dict[str, Any]] = []

    def run(inventory: Any, **kwargs: Any) -> DeployResult:
        calls.append(kwargs)
        return result

    report = drift.find_drift(VALID, limit, run=run, clock=lambda: NOW)
    return report, calls


def test_the_check_run_is_a_check_with_diff_of_the_selection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, calls = _report(tmp_path, monkeypatch, "portal,db")
    assert calls == [{"check": True, "diff": True, "limit": "portal,db", "capture": True}]
    assert [h.name for h in report.hosts] == ["portal-1", "db-1", "db-2"]
    assert report.timestamp == NOW


def test_the_report_per_host_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, _ = _report(tmp_path, monkeypatch)
    text = drift.format_report(report)
    for secret in SECRETS:
        assert secret not in text
    lines = text.splitlines()
    assert "portal-1: 4 task(s) would change" in lines
    assert "      -DB_PASSWORD=<redacted>" in lines
    assert "      +API_TOKEN=<redacted>" in lines
    assert "      +WORKERS=8" in lines  # not secret: shown
    assert "      +secret_key: <redacted>" in lines
    at = lines.index("  - The database password of the application is set")
    assert lines[at + 1] == "      (diff hidden: no_log)"
    at = lines.index("  - Nginx is reloaded")
    assert lines[at + 1] == f"      {drift.NO_DIFF}"
    assert "mail-1: NOT CHECKED: 1 task(s) failed in check mode" in lines
    assert "db-2: NOT CHECKED: unreachable" in lines
    assert "mon-1: no drift" in lines
    # in the recap of no play: not checked either, never "no drift"
    assert "eoffice-1: NOT CHECKED: not in Ansible's recap (ansible-playbook exited 2)" in lines
    assert lines[-1] == "pdic drift: 2 host(s) drifted, 6 not checked, 1 without drift"
    assert report.exit_code == 1
    assert not report.success


def test_the_json_report_is_masked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report, _ = _report(tmp_path, monkeypatch)
    data = drift.report_json(report)
    text = json.dumps(data)
    for secret in SECRETS:
        assert secret not in text
    assert data["hosts"]["db-2"] == {"checked": False, "reason": "unreachable", "changed_tasks": []}
    hidden = data["hosts"]["portal-1"]["changed_tasks"][2]
    assert hidden["no_log"] is True
    assert hidden["diff"] == drift.NO_LOG


@pytest.mark.parametrize(
    ("hosts", "code"),
    [
        ((HostDrift("a", True), HostDrift("b", True)), 0),
        ((HostDrift("a", True, (TaskDiff("t"),)), HostDrift("b", True)), 1),
        ((HostDrift("a", True), HostDrift("b", False, reason="unreachable")), 1),
        ((), 0),
    ],
)
def test_exit_code(hosts: tuple[HostDrift, ...], code: int) -> None:
    assert DriftReport(hosts, NOW).exit_code == code


def test_a_run_with_no_recap_names_ansible_s_last_line() -> None:
    result = DeployResult(1, [], {}, "PLAY [x]\nERROR! the vault password is wrong\n")
    report = drift.report_of([VALID.hosts["db-1"]], result, NOW)
    assert report.hosts[0].reason == (
        "not in Ansible's recap (ansible-playbook exited 1: ERROR! the vault password is wrong)"
    )


# --------------------------------------------------------------------------------------------
# the metrics


def _samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("host", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _small_report(*hosts: HostDrift, at: float = NOW) -> DriftReport:
    return DriftReport(tuple(hosts), at)


def test_metrics_of_every_host_checked() -> None:
    report = _small_report(
        HostDrift("portal-1", True, (TaskDiff("a"), TaskDiff("b"))),
        HostDrift("db-1", True),
        HostDrift("db-2", False, reason="unreachable"),
    )
    text = drift.metrics_text(report, VALID)
    assert "# HELP pdic_drift_changed_tasks Tasks a deploy would change" in text
    assert _samples(text) == {
        ("pdic_drift_changed_tasks", "db-1"): 0.0,
        ("pdic_drift_changed_tasks", "db-2"): 0.0,
        ("pdic_drift_changed_tasks", "portal-1"): 2.0,
        ("pdic_drift_host_checked", "db-1"): 1.0,
        ("pdic_drift_host_checked", "db-2"): 0.0,
        ("pdic_drift_host_checked", "portal-1"): 1.0,
        ("pdic_drift_last_run_timestamp_seconds", ""): NOW,
        ("pdic_drift_last_run_success", ""): 0.0,
    }


def test_metrics_with_a_limit_keep_the_other_hosts_of_the_previous_file() -> None:
    everyone = [HostDrift(n, True, (TaskDiff("t"),)) for n in VALID.hosts]
    previous = drift.metrics_text(_small_report(*everyone, at=NOW - 86400), VALID)
    previous += 'pdic_drift_changed_tasks{host="gone-1"} 5.0\n'  # no longer in the inventory
    report = _small_report(HostDrift("db-1", True), HostDrift("db-2", True))
    samples = _samples(drift.metrics_text(report, VALID, previous))
    assert samples[("pdic_drift_changed_tasks", "db-1")] == 0.0
    assert samples[("pdic_drift_changed_tasks", "portal-1")] == 1.0  # kept
    assert samples[("pdic_drift_host_checked", "portal-1")] == 1.0
    assert ("pdic_drift_changed_tasks", "gone-1") not in samples
    assert samples[("pdic_drift_last_run_timestamp_seconds", "")] == NOW
    assert samples[("pdic_drift_last_run_success", "")] == 1.0
    assert len([k for k in samples if k[0] == "pdic_drift_changed_tasks"]) == len(VALID.hosts)


def test_a_previous_file_that_is_not_prometheus_text_keeps_nothing() -> None:
    report = _small_report(HostDrift("db-1", True))
    samples = _samples(drift.metrics_text(report, VALID, "{not: metrics"))
    assert {k[1] for k in samples if k[0] == "pdic_drift_changed_tasks"} == {"db-1"}


def test_metrics_file_is_written_and_merged(tmp_path: Path) -> None:
    path = tmp_path / "pdic_drift.prom"
    drift.write_local(_small_report(HostDrift("portal-1", True, (TaskDiff("t"),))), VALID, path)
    drift.write_local(_small_report(HostDrift("db-1", True)), VALID, path)
    samples = _samples(path.read_text())
    assert samples[("pdic_drift_changed_tasks", "portal-1")] == 1.0
    assert samples[("pdic_drift_changed_tasks", "db-1")] == 0.0
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["pdic_drift.prom"]


def test_the_textfile_directory_default_is_the_node_exporter_role_s() -> None:
    defaults = yaml.safe_load((REPO / "roles/node_exporter/defaults/main.yml").read_text())
    assert defaults["node_exporter_textfile_dir"] == drift.TEXTFILE_DIR


# --------------------------------------------------------------------------------------------
# publishing through a fake host


@dataclass
class _Run:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeHost:
    """Answers the publishing commands from ``files``; fails a command holding ``fail_on``."""

    files: dict[str, str] = field(default_factory=dict)
    fail_on: str = ""
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, *args: str) -> _Run:
        import shlex

        line = command % tuple(shlex.quote(a) for a in args)
        self.commands.append(line)
        if self.fail_on and self.fail_on in line:
            return _Run(1, "", "sh: 1: cannot create: Read-only file system")
        if line.startswith("if [ -e "):
            return _Run(0, self.files.get(args[0], ""))
        if line.startswith("{ printf %s "):
            content, tmp, _, _, path, _ = args
            assert tmp.startswith(path.rpartition("/")[0] + "/.pdic_drift.prom.")
            self.files[path] = content
            return _Run()
        raise AssertionError(f"unexpected command: {line}")


def test_publish_writes_beside_then_renames_and_merges(tmp_path: Path) -> None:
    path = f"{drift.TEXTFILE_DIR}/pdic_drift.prom"
    host = FakeHost({path: 'pdic_drift_changed_tasks{host="portal-1"} 3.0\n'})
    connected: list[str] = []

    def connect(h: Any) -> FakeHost:
        connected.append(h.name)
        return host

    mon = drift.monitoring_host(VALID)
    where = drift.publish(_small_report(HostDrift("db-1", True)), VALID, mon, connect)
    assert where == f"mon-1:{path}"
    assert connected == ["mon-1"]
    assert "chmod 0644" in host.commands[1]
    assert f"mv -f -- {drift.TEXTFILE_DIR}/.pdic_drift.prom." in host.commands[1]
    samples = _samples(host.files[path])
    assert samples[("pdic_drift_changed_tasks", "portal-1")] == 3.0
    assert samples[("pdic_drift_changed_tasks", "db-1")] == 0.0


def test_publish_follows_the_inventory_s_textfile_directory() -> None:
    import dataclasses

    mon = drift.monitoring_host(VALID)
    mon = dataclasses.replace(mon, vars={**mon.vars, "node_exporter_textfile_dir": "/srv/tf/"})
    assert drift.textfile_path(mon) == "/srv/tf/pdic_drift.prom"


@pytest.mark.parametrize("fail_on", ["if [ -e", "printf"])
def test_a_publishing_failure_is_one_line(fail_on: str) -> None:
    host = FakeHost(fail_on=fail_on)
    with pytest.raises(PublishFailed, match=r"^mon-1: (reading|writing) .*Read-only file sys"):
        drift.publish(_small_report(), VALID, drift.monitoring_host(VALID), lambda h: host)


def test_an_unreachable_monitoring_host_is_one_line() -> None:
    from pdic.connect import ConnectionFailed

    def connect(h: Any) -> Any:
        raise ConnectionFailed("mon-1: no answer from 192.0.2.61:22")

    with pytest.raises(PublishFailed, match=r"^mon-1: cannot publish .*no answer"):
        drift.publish(_small_report(), VALID, drift.monitoring_host(VALID), connect)


# --------------------------------------------------------------------------------------------
# the command


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> list[DeployResult]:
    """The check run the command gets: set ``[0]``; the default is one without drift."""
    results = [DeployResult(0, [HostSummary(n, ok=5) for n in VALID.hosts])]
    monkeypatch.setattr(drift, "deploy", lambda inventory, **kw: results[0])
    return results


def test_no_drift_exits_0_and_writes_the_metrics_file(
    fake_run: list[DeployResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "drift.prom"
    assert main(["drift", "-i", str(VALID_PATH), "--metrics-file", str(out)]) == 0
    assert "portal-1: no drift" in capsys.readouterr().out
    assert _samples(out.read_text())[("pdic_drift_last_run_success", "")] == 1.0


def test_drift_exits_1_and_json_says_which(
    fake_run: list[DeployResult], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run[0] = DeployResult(
        0,
        [HostSummary(n, ok=5) for n in VALID.hosts],
        changed_diffs={"db-1": [TaskDiff("t", "@@ -1 +1 @@\n-token: a\n+token: b\n")]},
    )
    assert main(["drift", "-i", str(VALID_PATH), "--json", "--no-publish"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["hosts"]["db-1"]["changed_tasks"] == [
        {"task": "t", "diff": "@@ -1 +1 @@\n-token: <redacted>\n+token: <redacted>\n",
         "no_log": False}
    ]  # fmt: skip
    assert data["hosts"]["portal-1"]["changed_tasks"] == []


def test_a_host_not_checked_exits_1(
    fake_run: list[DeployResult], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run[0] = DeployResult(4, [HostSummary("db-1", unreachable=1)])
    assert main(["drift", "-i", str(VALID_PATH), "-l", "db-1", "--no-publish"]) == 1
    assert capsys.readouterr().out.startswith("db-1: NOT CHECKED: unreachable\n")


def test_publishing_by_default_and_its_failure_after_the_report(
    fake_run: list[DeployResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = FakeHost(fail_on="printf")
    monkeypatch.setattr("pdic.connect.testinfra_host", lambda h: host)
    assert main(["drift", "-i", str(VALID_PATH)]) == 1
    captured = capsys.readouterr()
    assert "mon-1: no drift" in captured.out
    assert captured.err.splitlines() == [
        f"pdic: error: mon-1: writing {drift.TEXTFILE_DIR}/pdic_drift.prom: "
        "sh: 1: cannot create: Read-only file system"
    ]
    host.fail_on = ""
    assert main(["drift", "-i", str(VALID_PATH)]) == 0
    assert f"{drift.TEXTFILE_DIR}/pdic_drift.prom" in host.files


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-l", "nosuch"], "'nosuch' matches no host or group"),
        (["--metrics-file", "{dir}"], "is a directory, not a file"),
        (["--metrics-file", "{dir}/missing/x.prom"], "its directory"),
        (["--metrics-file", "{dir}/x.prom", "--no-publish"], "give one of them"),
    ],
)
def test_bad_input_runs_nothing_and_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ran")

    monkeypatch.setattr(drift, "deploy", refuse)
    argv = [a.format(dir=tmp_path) for a in argv]
    assert main(["drift", "-i", str(VALID_PATH), *argv]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("pdic: error: ")
    assert message in line


def test_no_monitoring_host_is_bad_input() -> None:
    import dataclasses

    groups = {k: v for k, v in VALID.groups.items() if k != "monitoring"}
    with pytest.raises(drift.DriftError, match=r"no host in group 'monitoring' .* --no-publish"):
        drift.monitoring_host(dataclasses.replace(VALID, groups=groups))
