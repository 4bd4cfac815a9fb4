"""The series an alert rule reads, and which scrape job (so which hosts) gives each.

:func:`series_of` takes a PromQL expression apart far enough to name the metrics it selects
(``pg_up``, ``node_filesystem_avail_bytes``, ...): string literals, label matchers, ranges,
grouping lists and function names are not metrics. :func:`job_of` says which of the
inventory's scrape jobs (pdic.monitoring.targets.JOBS) exports a metric, so a lab test can ask
Prometheus for the series on every host that job covers: a rule that passes promtool while its
series is never scraped cannot fire, and this is how that is found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
        "bool", "offset", "atan2", "inf", "nan",
    }
)  # fmt: skip
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGE = re.compile(r"\[[^\]]*\]")
GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?")
SELECTOR_NAME = re.compile(r"__name__\s*=\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")

JOB_PREFIXES: tuple[tuple[str, str], ...] = (
    ("node_", "node"),
    ("pdic_", "pdic"),
    ("pg_", "postgres"),
    ("postfix_", "postfix"),
    ("dovecot_", "dovecot"),
    ("probe_", "blackbox"),
    ("alertmanager_", "alertmanager"),
    ("prometheus_", "prometheus"),
)
"""Metric name prefix -> the job whose exporter gives it (``blackbox``: every probe job)."""


def series_of(expr: str) -> set[str]:
    """The metric names ``expr`` selects (``up`` included)."""
    names = set(SELECTOR_NAME.findall(expr))
    text = STRING.sub('""', expr)
    text = MATCHERS.sub("", text)
    text = RANGE.sub("", text)
    text = GROUPING.sub(" ", text)
    for match in NAME.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS or re.fullmatch(r"[0-9].*", name):
            continue
        names.add(name)
    return names


def job_of(metric: str) -> str | None:
    """The scrape job that exports ``metric``; None for ``up`` and series of every job."""
    for prefix, job in JOB_PREFIXES:
        if metric.startswith(prefix):
            return job
    return None


def alert_rules(rule_dir: Path) -> list[tuple[str, str]]:
    """(alert name, expression) of every alerting rule under ``rule_dir``, in file order."""
    found = []
    for path in sorted(rule_dir.glob("*.yml")):
        doc: Mapping[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    found.append((str(rule["alert"]), str(rule["expr"])))
    return found


def metrics_by_rule(rules: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    return {name: series_of(expr) for name, expr in rules}
