"""Dashboards and console pages: committed as generated, expressions that parse, known metrics.

promtool has no expression checker, so every panel expression (its ``{service}``/``{host}``
filled in) becomes a recording rule of a temporary rule file that ``promtool check rules``
parses (skipped without promtool, an error under ``CI``). Every metric name an expression uses
must be one the alert rules or pdic's exporters name (or Prometheus' own ``ALERTS`` and
``up``), so a panel never waits for a series nobody collects.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pdic.exporter import backup, compliance, mail, pki
from pdic.monitoring.dashboards import (
    VIEWS,
    all_expressions,
    console_page,
    grafana_dashboard,
    rendered,
    write_dashboards,
)

REPO = Path(__file__).resolve().parents[3]
MONITORING = REPO / "monitoring"
BUILTIN = {"ALERTS", "up"}
NOT_METRICS = {
    "sum", "count", "avg", "min", "max", "by", "without", "rate", "bottomk", "topk", "time",
    "and", "or", "unless", "on", "ignoring", "offset", "bool", "absent", "predict_linear",
    "avg_over_time", "inf", "nan",
}  # fmt: skip
TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: what is left without matchers, groupings,
    durations, strings, numbers and function names."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    names = set()
    for match in TOKEN.finditer(expr):
        rest = expr[match.end() :].lstrip()
        if rest.startswith("(") or match.group() in NOT_METRICS:
            continue
        names.add(match.group())
    return names


def known_metrics() -> set[str]:
    names = set(BUILTIN)
    for path in (MONITORING / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                names |= metric_names(rule["expr"])
    for module in (backup, compliance, mail, pki):
        names |= set(re.findall(r"# HELP (pdic_\w+)", inspect.getsource(module)))
    return names


def test_metric_names_are_read_from_expressions() -> None:
    assert metric_names(
        'sum by (service) (up{job="node"}) / count(rate(node_cpu_seconds_total[5m])) > 0.9'
    ) == {"up", "node_cpu_seconds_total"}


def test_committed_files_are_what_the_code_generates() -> None:
    for rel, content in rendered().items():
        path = MONITORING / rel
        assert path.is_file(), f"monitoring/{rel} is missing: run `pdic monitoring dashboards`"
        assert path.read_text(encoding="utf-8") == content, (
            f"monitoring/{rel} is not what the code generates: run `pdic monitoring dashboards`"
        )
    committed = {
        p.relative_to(MONITORING).as_posix()
        for d in ("grafana/dashboards", "prometheus/consoles")
        for p in (MONITORING / d).iterdir()
    }
    assert committed == set(rendered())


def test_write_dashboards_writes_every_file(tmp_path: Path) -> None:
    paths = write_dashboards(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == sorted(rendered())


@pytest.mark.parametrize("expr", all_expressions())
def test_expressions_use_only_known_metrics(expr: str) -> None:
    unknown = metric_names(expr) - known_metrics()
    assert not unknown, f"{expr}: no rule or pdic exporter names {sorted(unknown)}"


def test_expressions_parse(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed; required under CI")
        pytest.skip("promtool is not installed")
    rules = [
        {
            "record": f"dashboard:expr_{i}",
            "expr": expr.replace("{service}", "portal").replace("{host}", "db-1"),
        }
        for i, expr in enumerate(all_expressions())
    ]
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.uid)
def test_grafana_dashboard_uses_the_view_variable(view: object) -> None:
    dashboard = grafana_dashboard(view)  # type: ignore[arg-type]
    exprs = [p["targets"][0]["expr"] for p in dashboard["panels"]]
    variables = [v["name"] for v in dashboard["templating"]["list"]]
    assert variables == ([view.variable] if view.variable else [])  # type: ignore[attr-defined]
    for expr in exprs:
        assert "{host}" not in expr and "{service}" not in expr
    if view.variable:  # type: ignore[attr-defined]
        assert all(f"${view.variable}" in e for e in exprs)  # type: ignore[attr-defined]
    json.dumps(dashboard)


def test_console_pages_read_their_variable_from_the_url() -> None:
    host = console_page(next(v for v in VIEWS if v.variable == "host"))
    assert "{{ $host := .Params.host }}" in host
    assert '(printf `up{host="%[1]s"}` $host)' in host
    overview = console_page(VIEWS[0])
    assert "/consoles/pdic-service.html?service={{ .Labels.service }}" in overview
