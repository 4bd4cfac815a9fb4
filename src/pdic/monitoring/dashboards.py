"""Dashboards: the centre overview, one service and one host, as Grafana JSON and console pages.

The views are data (:data:`VIEWS`): panels with a title, a PromQL expression and a unit. From
them :func:`grafana_dashboard` builds a Grafana dashboard (a time series per panel, with a
``$service`` or ``$host`` variable), and :func:`console_page` a Prometheus console template that
shows the same panels as tables of current values (the lab has no Grafana: Grafana is not in
Debian). :func:`write_dashboards` writes both where the roles take them from:
``monitoring/grafana/dashboards/<uid>.json`` (role grafana) and
``monitoring/prometheus/consoles/<uid>.html`` with ``pdic.lib`` (role prometheus, served under
``/consoles/``). ``pdic monitoring dashboards`` runs it; a unit test checks that what is
committed is what this module generates and that every expression parses.

Expressions use ``{service}`` and ``{host}`` for the view's variable; nothing else is templated.
Only metrics that the alert rules or pdic's exporters name are used, so a dashboard never shows a
series nobody collects. It does not talk to Grafana or Prometheus.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from pdic.monitoring.targets import write_if_changed

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
FS = 'fstype!~"tmpfs|ramfs|squashfs"'

# Grafana unit -> the console template function that formats a value in it.
HUMANIZE = {
    "percentunit": "humanizePercentage",
    "s": "humanizeDuration",
    "bytes": "humanize1024",
    "dateTimeAsIso": "humanizeTimestamp",
    "short": "humanize",
    "bool_on_off": "humanize",
}


@dataclass(frozen=True)
class Panel:
    """One panel: ``expr`` (PromQL, with ``{service}``/``{host}``), its unit and legend labels."""

    title: str
    expr: str
    unit: str = "short"
    legend: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class View:
    """A dashboard: ``variable`` is None, ``"service"`` or ``"host"``."""

    uid: str
    title: str
    variable: str | None
    panels: tuple[Panel, ...]
    description: str


ALERTS_FIRING = 'ALERTS{{alertstate="firing"{extra}}}'


def _alerts(extra: str = "") -> str:
    return ALERTS_FIRING.format(extra=extra)


VIEWS: tuple[View, ...] = (
    View(
        uid="pdic-overview",
        title="pdic: centre overview",
        variable=None,
        description="Every service at a glance: targets up, alerts, sites, certificates, backups.",
        panels=(
            Panel(
                "Targets up per service",
                "sum by (service) (up) / count by (service) (up)",
                "percentunit",
                ("service",),
                "Share of each service's scrape targets and probes that answer.",
            ),
            Panel(
                "Firing alerts per team and severity",
                f"count by (team, severity) ({_alerts()})",
                "short",
                ("team", "severity"),
            ),
            Panel(
                "Portal sites answering",
                'probe_success{job="blackbox_https"}',
                "bool_on_off",
                ("site", "agency", "tier"),
            ),
            Panel(
                "Portal site response time",
                'probe_duration_seconds{job="blackbox_https"}',
                "s",
                ("site",),
            ),
            Panel(
                "Certificates expiring soonest (files)",
                "bottomk(10, pdic_cert_expiry_seconds)",
                "s",
                ("host", "path"),
            ),
            Panel(
                "Certificates expiring soonest (served)",
                "bottomk(10, probe_ssl_earliest_cert_expiry - time())",
                "s",
                ("instance",),
            ),
            Panel(
                "Age of the last good backup",
                "time() - pdic_backup_last_success_timestamp_seconds",
                "s",
                ("host", "stanza"),
            ),
            Panel(
                "Mail queue",
                "sum by (host) (pdic_mail_queue_messages)",
                "short",
                ("host",),
            ),
        ),
    ),
    View(
        uid="pdic-service",
        title="pdic: service",
        variable="service",
        description="One service (an inventory group): its hosts, probes and alerts.",
        panels=(
            Panel("Targets up", 'up{service="{service}"}', "bool_on_off", ("job", "instance")),
            Panel(
                "Firing alerts",
                _alerts(', service="{service}"'),
                "short",
                ("alertname", "host", "severity"),
            ),
            Panel(
                "CPU busy",
                '1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle", service="{service}"}'
                "[5m]))",
                "percentunit",
                ("host",),
            ),
            Panel(
                "Memory used",
                '1 - node_memory_MemAvailable_bytes{service="{service}"}'
                ' / node_memory_MemTotal_bytes{service="{service}"}',
                "percentunit",
                ("host",),
            ),
            Panel(
                "Failed systemd units",
                'node_systemd_unit_state{state="failed", service="{service}"} == 1',
                "short",
                ("host", "name"),
            ),
            Panel(
                "Probes answering",
                'probe_success{service="{service}"}',
                "bool_on_off",
                ("instance", "module"),
            ),
            Panel(
                "Probe duration",
                'probe_duration_seconds{service="{service}"}',
                "s",
                ("instance",),
            ),
        ),
    ),
    View(
        uid="pdic-host",
        title="pdic: host",
        variable="host",
        description="One host: its exporters, resources, units, certificates and alerts.",
        panels=(
            Panel("Exporters up", 'up{host="{host}"}', "bool_on_off", ("job",)),
            Panel(
                "Firing alerts",
                _alerts(', host="{host}"'),
                "short",
                ("alertname", "severity"),
            ),
            Panel(
                "CPU busy",
                '1 - avg(rate(node_cpu_seconds_total{mode="idle", host="{host}"}[5m]))',
                "percentunit",
            ),
            Panel(
                "Memory used",
                '1 - node_memory_MemAvailable_bytes{host="{host}"}'
                ' / node_memory_MemTotal_bytes{host="{host}"}',
                "percentunit",
            ),
            Panel(
                "Filesystem space free",
                f'node_filesystem_avail_bytes{{host="{{host}}", {FS}}}'
                f' / node_filesystem_size_bytes{{host="{{host}}", {FS}}}',
                "percentunit",
                ("mountpoint",),
            ),
            Panel(
                "Failed systemd units",
                'node_systemd_unit_state{state="failed", host="{host}"} == 1',
                "short",
                ("name",),
            ),
            Panel(
                "Certificate files: time left",
                'pdic_cert_expiry_seconds{host="{host}"}',
                "s",
                ("path",),
            ),
            Panel(
                "CRLs: time to next update",
                'pdic_crl_next_update_seconds{host="{host}"}',
                "s",
                ("path",),
            ),
        ),
    ),
)


def expressions(view: View) -> list[str]:
    return [p.expr for p in view.panels]


def _fill(expr: str, mapping: dict[str, str]) -> str:
    for name, value in mapping.items():
        expr = expr.replace("{" + name + "}", value)
    return expr


def grafana_dashboard(view: View) -> dict[str, Any]:
    """The view as a Grafana dashboard (JSON model, schema 39), two panels per row."""
    panels = []
    for i, panel in enumerate(view.panels):
        legend = " ".join("{{" + label + "}}" for label in panel.legend)
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": panel.title,
                "description": panel.description,
                "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {
                        "refId": "A",
                        "datasource": DATASOURCE,
                        "expr": _fill(panel.expr, {"service": "$service", "host": "$host"}),
                        "legendFormat": legend,
                    }
                ],
            }
        )
    variables = []
    if view.variable is not None:
        query = (
            "label_values(up, service)"
            if view.variable == "service"
            else ('label_values(up{job="node"}, host)')
        )
        variables.append(
            {
                "name": view.variable,
                "label": view.variable,
                "type": "query",
                "datasource": DATASOURCE,
                "query": {"query": query, "refId": "variable"},
                "definition": query,
                "refresh": 2,
                "sort": 1,
                "includeAll": False,
                "multi": False,
            }
        )
    return {
        "uid": view.uid,
        "title": view.title,
        "description": view.description,
        "tags": ["pdic"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["pdic"], "title": "pdic", "asDropdown": False}],
        "panels": panels,
    }


CONSOLE_LIBRARY = """\
{{/* pdic's console pages: header, navigation and footer (generated, do not edit). */}}
{{ define "pdic_head" }}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ .arg0 }}</title>
<style>
body { font-family: sans-serif; margin: 1em 2em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
nav a { margin-right: 1em; }
</style>
</head>
<body>
<nav><a href="{{ pathPrefix }}/consoles/pdic-overview.html">Overview</a>
<a href="{{ pathPrefix }}/alerts">Alerts</a>
<a href="{{ pathPrefix }}/targets">Targets</a></nav>
{{ end }}
{{ define "pdic_tail" }}</body>
</html>
{{ end }}
"""


def console_page(view: View) -> str:
    """The view as a Prometheus console template: one table of current values per panel.

    A view with a variable reads it from the URL (``?service=portal``, ``?host=db-1``); the
    overview links each service and host to its page.
    """
    lines = [
        "{{/* " + f"{view.title}: generated by pdic monitoring dashboards, do not edit." + " */}}",
        '{{ template "pdic_head" (args "' + escape(view.title) + '") }}',
    ]
    if view.variable is not None:
        lines.append("{{ $" + view.variable + " := .Params." + view.variable + " }}")
        lines.append(f"<h1>{escape(view.title)}: {{{{ ${view.variable} }}}}</h1>")
    else:
        lines.append(f"<h1>{escape(view.title)}</h1>")
    lines.append(f"<p>{escape(view.description)}</p>")
    for panel in view.panels:
        lines.append(f"<h2>{escape(panel.title)}</h2>")
        lines.append("<table>")
        labels = panel.legend or ()
        header = "".join(f"<th>{escape(label)}</th>" for label in labels)
        lines.append(f"<tr>{header}<th>value</th></tr>")
        if view.variable is None:
            query = "query `" + panel.expr + "`"
        else:
            fmt = _fill(panel.expr.replace("%", "%%"), {view.variable: "%[1]s"})
            query = "query (printf `" + fmt + "` $" + view.variable + ")"
        cells = "".join(_cell(label) for label in labels)
        value = "{{ .Value | " + HUMANIZE[panel.unit] + " }}"
        lines.append("{{ range " + query + " }}")
        lines.append(f"<tr>{cells}<td>{value}</td></tr>")
        lines.append('{{ else }}<tr><td colspan="' + str(len(labels) + 1) + '">no data</td></tr>')
        lines.append("{{ end }}")
        lines.append("</table>")
    lines.append('{{ template "pdic_tail" }}')
    return "\n".join(lines) + "\n"


def _cell(label: str) -> str:
    value = "{{ .Labels." + label + " }}"
    if label in ("service", "host"):
        link = "{{ pathPrefix }}/consoles/pdic-" + label + ".html?" + label + "=" + value
        return f'<td><a href="{link}">{value}</a></td>'
    return f"<td>{value}</td>"


def rendered() -> dict[str, str]:
    """Every generated file, by path relative to ``monitoring/``."""
    files = {
        f"grafana/dashboards/{view.uid}.json": json.dumps(
            grafana_dashboard(view), indent=2, ensure_ascii=False
        )
        + "\n"
        for view in VIEWS
    }
    files |= {f"prometheus/consoles/{view.uid}.html": console_page(view) for view in VIEWS}
    files["prometheus/consoles/pdic.lib"] = CONSOLE_LIBRARY
    return files


def write_dashboards(monitoring_dir: Path | str) -> list[Path]:
    """Write the dashboards and console pages under ``monitoring_dir``; returns their paths."""
    root = Path(monitoring_dir)
    paths = []
    for rel, content in rendered().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(path, content)
        paths.append(path)
    return paths


def all_expressions(views: Iterable[View] = VIEWS) -> list[str]:
    return [expr for view in views for expr in expressions(view)]
