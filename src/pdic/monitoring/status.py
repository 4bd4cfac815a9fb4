"""`pdic status`: the centre on one screen, from Prometheus' HTTP API.

:func:`centre_status` asks Prometheus five questions (``up``, the alerts, certificate files'
time left, served certificates' time left, the age of the last good backup) and turns the
answers into a :class:`CentreStatus`: each service of the inventory green, amber or red, the
alerts that fire (name, host, severity, runbook), the certificates that expire soonest and the
backups. :func:`render_text` prints it as plain lines (for pipes, mail and logs) and
:func:`render_rich` as coloured tables for a terminal.

A service is **red** when a critical alert about it fires, none of its targets answers, or a
scrape job the inventory gives it (:func:`~pdic.monitoring.targets.file_sd_targets`, the jobs
Prometheus is deployed with) has no series at all in Prometheus: an exporter that is deployed
but not scraped cannot raise its alerts, so its silence is not green. It is **amber** when a
warning fires, some targets do not answer or it has no targets at all, and **green**
otherwise. An alert belongs to the service in its ``service`` label, else to the
services of the inventory host in its ``host`` label. Info alerts are listed but colour nothing;
alerts of severity ``none`` (the Watchdog, which always fires to prove the alert path works)
are left out.

Prometheus that cannot be reached or answers with an error raises :class:`StatusError` (one
line, exit code 2 in the CLI). The HTTP client is injectable (``fetch``), so tests replay
recorded API responses. What is scraped comes from Prometheus alone; the inventory only says
which jobs each service should have. It changes nothing.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pdic.errors import PdicError
from pdic.inventory import Inventory
from pdic.inventory.model import KNOWN_GROUPS

DEFAULT_PORT = 9090
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
CERT_RED_SECONDS = 7 * 86400
CERT_AMBER_SECONDS = 30 * 86400
BACKUP_MAX_AGE_SECONDS = 26 * 3600  # as the BackupTooOld rule
QUERIES = {
    # A blackbox target answers `up` even when its probe fails: probe_success replaces it.
    "up": "probe_success or up",
    "certificates": "pdic_cert_expiry_seconds",
    "served_certificates": "probe_ssl_earliest_cert_expiry - time()",
    "backups": "time() - pdic_backup_last_success_timestamp_seconds",
}

Fetch = Callable[[str, Mapping[str, str]], Any]


class StatusError(PdicError):
    """Prometheus cannot be reached or its answer makes no sense."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # green, amber, red
    up: int
    targets: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    state: str  # firing, pending
    host: str
    service: str
    summary: str
    runbook: str
    active_since: str


@dataclass(frozen=True)
class Expiry:
    seconds_left: float
    host: str
    what: str
    source: str  # file, served


@dataclass(frozen=True)
class Backup:
    host: str
    stanza: str
    age_seconds: float  # +Inf when it never succeeded

    @property
    def too_old(self) -> bool:
        return self.age_seconds > BACKUP_MAX_AGE_SECONDS


@dataclass(frozen=True)
class CentreStatus:
    prometheus: str
    services: list[ServiceStatus]
    alerts: list[Alert]
    certificates: list[Expiry]
    backups: list[Backup]
    env: str = ""
    generated_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for backup in data["backups"]:
            if math.isinf(backup["age_seconds"]):
                backup["age_seconds"] = None
        return data


def monitoring_url(inventory: Inventory, port: int) -> str | None:
    """``http://<first monitoring host's address>:<port>``; None without a monitoring host."""
    hosts = inventory.groups.get("monitoring", ())
    if not hosts:
        return None
    address = inventory.hosts[hosts[0]].address
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


def default_url(inventory: Inventory) -> str:
    """``http://<first monitoring host's address>:9090``."""
    url = monitoring_url(inventory, DEFAULT_PORT)
    if url is None:
        raise StatusError(f"{inventory.path}: no monitoring host; give --prometheus URL")
    return url


def prometheus_url(text: str) -> str:
    """``--prometheus``: an ``http(s)://HOST[:PORT][/PATH]`` URL, checked before any request.

    No credentials in it (they would be printed with every error about the URL), no query or
    fragment (the API paths are appended to it), nothing but printable characters.
    """
    problem = ""
    parts = None
    if not text.strip():
        problem = "is empty"
    elif not text.isprintable() or any(c.isspace() for c in text):
        problem = "holds a space or a control character"
    else:
        try:
            parts = urllib.parse.urlsplit(text)
            port = parts.port
        except ValueError as exc:
            problem = f"is not a URL ({exc})"
    if parts is not None and not problem:
        if parts.scheme not in ("http", "https"):
            problem = "is not an http:// or https:// URL"
        elif not parts.hostname:
            problem = "names no host"
        elif port == 0:
            problem = "names port 0"
        elif parts.username is not None or parts.password is not None:
            problem = "holds credentials: give Prometheus' address only"
        elif parts.query or parts.fragment or text.endswith(("?", "#")):
            problem = "has a query or fragment: give Prometheus' base URL only"
    if problem:
        shown = text if parts is None or parts.password is None else "<URL with a password>"
        raise StatusError(
            f"--prometheus: {shown!r} {problem} (such as http://10.0.0.61:{DEFAULT_PORT})"
        )
    return text


def http_fetch(base_url: str, timeout: float = 5.0) -> Fetch:
    """A fetch that GETs ``base_url + path?params`` and returns the decoded ``data``."""

    def fetch(path: str, params: Mapping[str, str]) -> Any:
        url = base_url.rstrip("/") + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc.read())
            raise StatusError(f"Prometheus at {base_url}: HTTP {exc.code}{detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StatusError(f"cannot reach Prometheus at {base_url}: {reason}") from None
        return _data(base_url, body)

    return fetch


def _error_detail(body: bytes) -> str:
    try:
        return f": {json.loads(body)['error']}"
    except (ValueError, KeyError, TypeError):
        return ""


def _data(base_url: str, body: bytes) -> Any:
    try:
        doc = json.loads(body)
    except ValueError:
        raise StatusError(f"Prometheus at {base_url}: the answer is not JSON") from None
    if not isinstance(doc, dict) or doc.get("status") != "success":
        error = doc.get("error", "no status") if isinstance(doc, dict) else "not an object"
        raise StatusError(f"Prometheus at {base_url}: {error}")
    return doc.get("data")


def _vector(fetch: Fetch, name: str) -> list[tuple[dict[str, str], float]]:
    data = fetch("/api/v1/query", {"query": QUERIES[name]})
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise StatusError(f"query {QUERIES[name]!r}: expected an instant vector")
    out = []
    for sample in data.get("result", []):
        value = float(sample["value"][1])
        out.append((dict(sample.get("metric", {})), value))
    return out


def centre_status(inventory: Inventory, url: str, fetch: Fetch | None = None) -> CentreStatus:
    """Everything `pdic status` shows, from the Prometheus at ``url``."""
    fetch = fetch or http_fetch(url)
    up = _vector(fetch, "up")
    raw_alerts = fetch("/api/v1/alerts", {})
    if not isinstance(raw_alerts, dict) or not isinstance(raw_alerts.get("alerts"), list):
        raise StatusError("/api/v1/alerts: expected a list of alerts")
    alerts = sorted(
        (a for a in map(_alert, raw_alerts["alerts"]) if a.severity != "none"),
        key=lambda a: (a.state != "firing", SEVERITY_ORDER.get(a.severity, 9), a.name, a.host),
    )
    certificates = sorted(
        [
            Expiry(v, m.get("host", ""), m.get("path") or m.get("instance", ""), "file")
            for m, v in _vector(fetch, "certificates")
        ]
        + [
            Expiry(v, m.get("host", ""), m.get("site") or m.get("instance", ""), "served")
            for m, v in _vector(fetch, "served_certificates")
        ],
        key=lambda e: e.seconds_left,
    )
    backups = [
        Backup(m.get("host", ""), m.get("stanza", ""), v) for m, v in _vector(fetch, "backups")
    ]
    backups.sort(key=lambda b: (b.host, b.stanza))
    return CentreStatus(
        prometheus=url,
        env=str(inventory.vars.get("pdic_env", "")),
        services=_services(inventory, up, alerts, _expected_jobs(inventory)),
        alerts=alerts,
        certificates=certificates,
        backups=backups,
    )


def _alert(raw: Mapping[str, Any]) -> Alert:
    labels = raw.get("labels", {}) or {}
    annotations = raw.get("annotations", {}) or {}
    return Alert(
        name=str(labels.get("alertname", "?")),
        severity=str(labels.get("severity", "")),
        state=str(raw.get("state", "")),
        host=str(labels.get("host", "")),
        service=str(labels.get("service", "")),
        summary=str(annotations.get("summary", "")).strip(),
        runbook=str(annotations.get("runbook_url", "")),
        active_since=str(raw.get("activeAt", "")),
    )


def _expected_jobs(inventory: Inventory) -> dict[str, set[str]]:
    """Each service mapped to the scrape jobs the inventory's targets give it."""
    from pdic.monitoring.targets import file_sd_targets

    expected: dict[str, set[str]] = {}
    for job, entries in file_sd_targets(inventory).items():
        for entry in entries:
            expected.setdefault(str(entry["labels"].get("service", "")), set()).add(job)
    return expected


def _services(
    inventory: Inventory,
    up: list[tuple[dict[str, str], float]],
    alerts: list[Alert],
    expected: Mapping[str, set[str]] | None = None,
) -> list[ServiceStatus]:
    names = [g for g in KNOWN_GROUPS if g in inventory.groups]
    names += sorted({m.get("service", "") for m, _ in up} - set(names) - {""})
    scraped = {m.get("job", "") for m, _ in up}
    result = []
    for name in names:
        samples = [v for m, v in up if m.get("service") == name]
        answering = sum(1 for v in samples if v == 1)
        unscraped = sorted((expected or {}).get(name, set()) - scraped)
        mine = [a for a in alerts if a.state == "firing" and name in _alert_services(inventory, a)]
        critical = sum(1 for a in mine if a.severity == "critical")
        warning = sum(1 for a in mine if a.severity == "warning")
        reasons = []
        if unscraped:
            reasons.append(f"not scraped: {', '.join(unscraped)}")
        if not samples:
            reasons.append("no targets")
        elif answering < len(samples):
            reasons.append(f"{len(samples) - answering} of {len(samples)} targets down")
        if critical:
            reasons.append(f"{critical} critical alert{'s' if critical > 1 else ''}")
        if warning:
            reasons.append(f"{warning} warning{'s' if warning > 1 else ''}")
        if critical or unscraped or (samples and answering == 0):
            state = "red"
        elif reasons:
            state = "amber"
        else:
            state = "green"
        result.append(ServiceStatus(name, state, answering, len(samples), tuple(reasons)))
    return result


def _alert_services(inventory: Inventory, alert: Alert) -> set[str]:
    if alert.service:
        return {alert.service}
    host = inventory.hosts.get(alert.host)
    return set(host.groups) if host is not None else set()


# -- output ------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """``3d 4h``, ``5h 12m``, ``42s``; ``never`` for +Inf; negative is ``expired 2d 1h ago``."""
    if math.isinf(seconds):
        return "never"
    if seconds < 0:
        return f"expired {human_duration(-seconds)} ago"
    s = int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def expiry_state(seconds_left: float) -> str:
    if seconds_left < CERT_RED_SECONDS:
        return "red"
    return "amber" if seconds_left < CERT_AMBER_SECONDS else "green"


def render_text(status: CentreStatus, certificates: int = 5) -> list[str]:
    """Plain lines: what `pdic status` prints when stdout is not a terminal."""
    lines = [f"pdic status: {status.env or 'centre'} from {status.prometheus}", "", "services:"]
    width = max((len(s.name) for s in status.services), default=0)
    for s in status.services:
        why = "; ".join(s.reasons) or "all targets up"
        lines.append(f"  {s.name:<{width}}  {s.state:<5}  {s.up}/{s.targets} up  {why}")
    firing = [a for a in status.alerts if a.state == "firing"]
    lines += ["", f"firing alerts: {len(firing) or 'none'}"]
    for a in firing:
        lines.append(f"  {a.severity:<8}  {a.name}  {a.host or '-'}  {a.runbook or '-'}")
    lines += ["", "certificates expiring soonest:"]
    for e in status.certificates[:certificates]:
        where = f"{e.host} {e.what}".strip()
        lines.append(f"  {human_duration(e.seconds_left):<18}  {e.source:<6}  {where}")
    if not status.certificates:
        lines.append("  no data")
    lines += ["", "last good backup:"]
    for b in status.backups:
        flag = "  TOO OLD" if b.too_old else ""
        lines.append(f"  {b.host} {b.stanza}: {human_duration(b.age_seconds)} ago{flag}")
    if not status.backups:
        lines.append("  no data")
    return lines


def render_rich(status: CentreStatus, certificates: int = 5) -> Any:
    """The same as :func:`render_text`, as coloured tables (a rich renderable)."""
    from rich.console import Group
    from rich.table import Table

    colours = {"green": "green", "amber": "yellow", "red": "red"}
    services = Table("service", "state", "up", "why", title=f"pdic status: {status.env}")
    for s in status.services:
        colour = colours[s.state]
        services.add_row(
            s.name,
            f"[{colour}]{s.state}[/]",
            f"{s.up}/{s.targets}",
            "; ".join(s.reasons) or "all targets up",
        )
    alerts = Table("severity", "alert", "host", "runbook", title="firing alerts")
    for a in status.alerts:
        if a.state == "firing":
            colour = {"critical": "red", "warning": "yellow"}.get(a.severity, "cyan")
            alerts.add_row(f"[{colour}]{a.severity}[/]", a.name, a.host or "-", a.runbook or "-")
    certs = Table(
        "time left", "source", "host", "certificate", title="certificates expiring soonest"
    )
    for e in status.certificates[:certificates]:
        colour = colours[expiry_state(e.seconds_left)]
        certs.add_row(f"[{colour}]{human_duration(e.seconds_left)}[/]", e.source, e.host, e.what)
    backups = Table("host", "stanza", "last good backup", title="backups")
    for b in status.backups:
        colour = "red" if b.too_old else "green"
        backups.add_row(b.host, b.stanza, f"[{colour}]{human_duration(b.age_seconds)} ago[/]")
    return Group(services, alerts, certs, backups)
