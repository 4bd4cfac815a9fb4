"""Configuration drift: what a deploy would change on each host, found by a check run.

`pdic drift` runs playbooks/site.yml in check mode with diff (:func:`pdic.deploy.deploy`, which
changes nothing on the hosts or on the controller) and reports, per host, the tasks that would
change and their diffs. Secrets stay out of the report: a ``no_log`` task shows no diff, every
other diff goes through :func:`pdic.compliance.redact.redact`. A host that is unreachable
or fails in check mode is *not checked*, never "no drift".

The result is also a Prometheus text file (``pdic_drift.prom``) for the node exporter's textfile
collector on the monitoring host, so that ConfigurationDrift and DriftCheckNotRun can fire::

    # HELP pdic_drift_changed_tasks Tasks a deploy would change on the host (0 if none).
    # HELP pdic_drift_host_checked 1 if the last drift check ran on the host, 0 if it could not.
    # HELP pdic_drift_last_run_timestamp_seconds Unix time of the last drift check.
    # HELP pdic_drift_last_run_success 1 if the last drift check ran on every host it selected.

With ``--limit``, the hosts outside the selection keep the values of the previous file.

It deliberately changes nothing on the hosts but that file, and does not deploy to correct a
drift: that is `pdic deploy`'s, after a person read the diff.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from pdic.compliance.redact import redact
from pdic.deploy import DeployResult, TaskDiff, deploy
from pdic.errors import PdicError
from pdic.files import write_atomically
from pdic.inventory import Host, Inventory

METRICS_FILE = "pdic_drift.prom"
MONITORING_GROUP = "monitoring"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
"""node_exporter_textfile_dir's default (roles/node_exporter/defaults/main.yml; a test keeps
them equal)."""
NO_LOG = "(diff hidden: no_log)"
NO_DIFF = "(no diff: the module shows none)"

Deploy = Callable[..., DeployResult]
Connect = Callable[[Host], Any]


class DriftError(PdicError):
    """`pdic drift` got bad input (exit code 2, before anything ran)."""


class PublishFailed(Exception):
    """The metrics file could not be written where it belongs (one line, exit code 1)."""


@dataclass(frozen=True)
class HostDrift:
    """One selected host: checked or not (``reason`` says why), and what would change."""

    name: str
    checked: bool
    tasks: tuple[TaskDiff, ...] = ()
    reason: str = ""

    @property
    def drifted(self) -> bool:
        return self.checked and bool(self.tasks)


@dataclass(frozen=True)
class DriftReport:
    hosts: tuple[HostDrift, ...]
    timestamp: float
    returncode: int = 0
    output: str = field(default="", repr=False)

    @property
    def success(self) -> bool:
        """Every selected host was checked (whether or not it drifted)."""
        return all(h.checked for h in self.hosts)

    @property
    def exit_code(self) -> int:
        """0 without drift on every host checked; 1 for drift or a host not checked."""
        return 0 if self.success and not any(h.drifted for h in self.hosts) else 1


def masked(task: TaskDiff) -> TaskDiff:
    """``task`` as it may be shown: no text for a no_log task, secrets redacted otherwise."""
    if task.no_log:
        return TaskDiff(task.task, "", no_log=True)
    return TaskDiff(task.task, redact(task.diff))


def _not_checked(name: str, result: DeployResult) -> str:
    summary = next((h for h in result.hosts if h.name == name), None)
    if summary is None:
        lines = result.output.strip().splitlines()
        last = f": {lines[-1].strip()}" if lines and not result.hosts else ""
        return f"not in Ansible's recap (ansible-playbook exited {result.returncode}{last})"
    if summary.unreachable:
        return "unreachable"
    if summary.failures:
        return f"{summary.failures} task(s) failed in check mode"
    return ""


def report_of(selected: Sequence[Host], result: DeployResult, timestamp: float) -> DriftReport:
    """The drift of each selected host from a check run's result."""
    hosts = []
    for host in selected:
        reason = _not_checked(host.name, result)
        if reason:
            hosts.append(HostDrift(host.name, False, reason=reason))
            continue
        tasks = result.changed_diffs.get(host.name)
        if tasks is None:  # a summary without diffs: the task names only
            tasks = [TaskDiff(t) for t in result.changed_tasks.get(host.name, [])]
        hosts.append(HostDrift(host.name, True, tuple(masked(t) for t in tasks)))
    return DriftReport(tuple(hosts), timestamp, result.returncode, result.output)


def find_drift(
    inventory: Inventory,
    limit: str | None = None,
    *,
    run: Deploy | None = None,
    clock: Callable[[], float] = time.time,
) -> DriftReport:
    """Run site.yml in check mode with diff on the selected hosts (``run``: :func:`deploy`);
    their drift. An unknown host or group in ``limit`` raises before anything runs."""
    selected = inventory.select(limit)
    started = clock()
    check = deploy if run is None else run
    result = check(inventory, check=True, diff=True, limit=limit, capture=True)
    return report_of(selected, result, started)


# The report


def format_report(report: DriftReport) -> str:
    """Per host: its changed tasks with their diffs (indented), or "no drift", or why it was
    not checked; a last line that counts them."""
    out: list[str] = []
    for host in report.hosts:
        if not host.checked:
            out.append(f"{host.name}: NOT CHECKED: {host.reason}")
            continue
        if not host.tasks:
            out.append(f"{host.name}: no drift")
            continue
        out.append(f"{host.name}: {len(host.tasks)} task(s) would change")
        for task in host.tasks:
            out.append(f"  - {task.task}")
            text = NO_LOG if task.no_log else (task.diff.rstrip("\n") or NO_DIFF)
            out.extend(f"      {line}".rstrip() for line in text.splitlines())
    drifted = sum(h.drifted for h in report.hosts)
    unchecked = sum(not h.checked for h in report.hosts)
    out.append(
        f"pdic drift: {drifted} host(s) drifted, {unchecked} not checked, "
        f"{len(report.hosts) - drifted - unchecked} without drift"
    )
    return "\n".join(out) + "\n"


def report_json(report: DriftReport) -> dict[str, Any]:
    return {
        "timestamp": report.timestamp,
        "success": report.success,
        "hosts": {
            h.name: {
                "checked": h.checked,
                "reason": h.reason,
                "changed_tasks": [
                    {"task": t.task, "diff": NO_LOG if t.no_log else t.diff, "no_log": t.no_log}
                    for t in h.tasks
                ],
            }
            for h in report.hosts
        },
    }


# The metrics


class DriftCollector(Collector):
    """The drift check's series (see the module's docstring for their ``# HELP`` lines).

    ``kept`` holds ``(changed_tasks, checked)`` of hosts outside this run's selection, as the
    previous file had them.
    """

    def __init__(
        self, report: DriftReport, kept: Mapping[str, tuple[float, float]] | None = None
    ) -> None:
        self.report = report
        self.kept = dict(kept or {})

    def collect(self) -> Iterator[GaugeMetricFamily]:
        changed = GaugeMetricFamily(
            "pdic_drift_changed_tasks",
            "Tasks a deploy would change on the host (0 if none).",
            labels=["host"],
        )
        checked = GaugeMetricFamily(
            "pdic_drift_host_checked",
            "1 if the last drift check ran on the host, 0 if it could not.",
            labels=["host"],
        )
        values = dict(self.kept)
        for h in self.report.hosts:
            values[h.name] = (float(len(h.tasks)), 1.0 if h.checked else 0.0)
        for name in sorted(values):
            changed.add_metric([name], values[name][0])
            checked.add_metric([name], values[name][1])
        yield changed
        yield checked
        yield GaugeMetricFamily(
            "pdic_drift_last_run_timestamp_seconds",
            "Unix time of the last drift check.",
            value=self.report.timestamp,
        )
        yield GaugeMetricFamily(
            "pdic_drift_last_run_success",
            "1 if the last drift check ran on every host it selected.",
            value=1.0 if self.report.success else 0.0,
        )


def previous_values(text: str, keep: Iterable[str]) -> dict[str, tuple[float, float]]:
    """``(changed_tasks, checked)`` of the hosts in ``keep`` from a previous file's text; a
    file that is not Prometheus text keeps nothing."""
    wanted = set(keep)
    changed: dict[str, float] = {}
    checked: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            into = {"pdic_drift_changed_tasks": changed, "pdic_drift_host_checked": checked}
            for sample in family.samples:
                host = sample.labels.get("host")
                if sample.name in into and host in wanted:
                    into[sample.name][host] = sample.value
    except ValueError:
        return {}
    return {h: (changed[h], checked.get(h, 0.0)) for h in changed}


def metrics_text(report: DriftReport, inventory: Inventory, previous: str = "") -> str:
    """The metrics file: this run's hosts, and the inventory's other hosts as ``previous``
    had them (a host no longer in the inventory is dropped)."""
    ran = {h.name for h in report.hosts}
    kept = previous_values(previous, (n for n in inventory.hosts if n not in ran))
    registry = CollectorRegistry()
    registry.register(DriftCollector(report, kept))
    return generate_latest(registry).decode("utf-8")


def metrics_file(value: str | Path) -> Path:
    """``--metrics-file``: a file pdic may write (its directory exists and is writable)."""
    from pdic.arguments import ArgumentError, output_file

    try:
        return output_file("--metrics-file", value)
    except ArgumentError as exc:
        raise DriftError(str(exc)) from None


def write_local(report: DriftReport, inventory: Inventory, path: Path) -> None:
    """The metrics file at ``path`` (merged with the one there), replaced atomically."""
    try:
        previous = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError):
        previous = ""
    try:
        write_atomically(path, metrics_text(report, inventory, previous).encode())
    except OSError as exc:
        raise PublishFailed(f"{path}: cannot write the metrics: {exc.strerror or exc}") from None


def monitoring_host(inventory: Inventory) -> Host:
    """The first host of group monitoring, whose node exporter serves the metrics."""
    names = inventory.groups.get(MONITORING_GROUP, ())
    if not names:
        raise DriftError(
            f"{inventory.path}: no host in group {MONITORING_GROUP!r} to publish the metrics "
            "on; give --metrics-file PATH or --no-publish"
        )
    return inventory.hosts[names[0]]


def textfile_path(host: Host) -> str:
    directory = str(host.get("node_exporter_textfile_dir") or TEXTFILE_DIR).rstrip("/")
    return f"{directory}/{METRICS_FILE}"


def _checked(result: Any, what: str) -> str:
    if result.rc != 0:
        lines = (result.stderr or result.stdout or "").strip().splitlines()
        raise PublishFailed(f"{what}: {lines[-1] if lines else f'exit code {result.rc}'}")
    return str(result.stdout)


def publish(report: DriftReport, inventory: Inventory, host: Host, connect: Connect) -> str:
    """The metrics file in the node exporter's textfile directory on ``host`` (as root),
    merged with the one there: written beside it under a temporary name, mode 0644, then
    renamed over it. Returns where; PublishFailed if it cannot."""
    path = textfile_path(host)
    tmp = f"{path.rpartition('/')[0]}/.{METRICS_FILE}.{os.getpid()}.tmp"
    try:
        target = connect(host)
        previous = _checked(
            target.run("if [ -e %s ]; then cat -- %s; fi", path, path),
            f"{host.name}: reading {path}",
        )
        text = metrics_text(report, inventory, previous)
        _checked(
            target.run(
                "{ printf %%s %s > %s && chmod 0644 %s && mv -f -- %s %s; } "
                "|| { rm -f -- %s; exit 1; }",
                text,
                tmp,
                tmp,
                tmp,
                path,
                tmp,
            ),
            f"{host.name}: writing {path}",
        )
    except PublishFailed:
        raise
    except Exception as exc:  # the connection's own errors, as one line
        raise PublishFailed(f"{host.name}: cannot publish {path}: {exc}") from None
    return f"{host.name}:{path}"
