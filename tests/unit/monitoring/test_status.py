"""`pdic status` on recorded Prometheus API responses (tests/unit/fixtures/prometheus/).

The fixtures are one moment of a real Prometheus: db-1's node_exporter does not answer and
HostDown fires; a backup is 30 hours old and a certificate 9 days from expiry (both alerts
still pending). The same responses are replayed through an injected fetch and, for the CLI,
served over HTTP on loopback.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from pdic.cli import main
from pdic.inventory import load_inventory
from pdic.monitoring.status import (
    QUERIES,
    StatusError,
    centre_status,
    default_url,
    human_duration,
    render_rich,
    render_text,
)

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventory" / "lab"
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "prometheus"
BY_QUERY = {query: name for name, query in QUERIES.items()}


def _response(path: str, params: Mapping[str, str]) -> tuple[int, bytes]:
    if path == "/api/v1/alerts":
        name = "alerts"
    elif path == "/api/v1/query" and params.get("query") in BY_QUERY:
        name = BY_QUERY[params["query"]]
    else:
        return 400, (FIXTURES / "bad_query.json").read_bytes()
    return 200, (FIXTURES / f"{name}.json").read_bytes()


def replay(path: str, params: Mapping[str, str]) -> Any:
    code, body = _response(path, params)
    assert code == 200, f"no fixture for {path} {dict(params)}"
    return json.loads(body)["data"]


@pytest.fixture(scope="module")
def status() -> Any:
    return centre_status(load_inventory(LAB), "http://mon:9090", fetch=replay)


def test_default_url_is_the_first_monitoring_host() -> None:
    assert default_url(load_inventory(LAB)) == "http://10.251.0.61:9090"


def test_services_are_green_amber_or_red(status: Any) -> None:
    states = {s.name: (s.state, s.up, s.targets, s.reasons) for s in status.services}
    assert states["db"] == (
        "red",
        0,
        1,
        ("not scraped: postgres", "1 of 1 targets down", "1 critical alert"),
    )
    assert states["backup"] == ("green", 1, 1, ())
    assert states["monitoring"] == ("green", 1, 1, ())
    # The inventory has portal sites, yet Prometheus has no series of their probes' job.
    assert states["portal"] == ("red", 0, 0, ("not scraped: blackbox_https", "no targets"))
    assert list(states) == ["portal", "eoffice", "hcc", "mail", "db", "backup", "pki", "monitoring"]


def test_firing_alerts_come_first_with_host_and_runbook(status: Any) -> None:
    first = status.alerts[0]
    assert (first.name, first.state, first.severity, first.host) == (
        "HostDown",
        "firing",
        "critical",
        "db-1",
    )
    assert first.runbook == "monitoring/runbooks/HostDown.md"
    assert {a.name for a in status.alerts[1:]} == {"BackupTooOld", "TLSCertificateExpiring14d"}
    assert all(a.state == "pending" for a in status.alerts[1:])


def test_certificates_expiring_soonest_from_files_and_probes(status: Any) -> None:
    soonest = [(e.source, e.what) for e in status.certificates]
    assert soonest == [
        ("file", "/tmp/promlive/host.crt"),
        ("served", "portal"),
        ("file", "/tmp/promlive/portal-sites.crt"),
    ]
    assert 8 * 86400 < status.certificates[0].seconds_left < 9 * 86400


def test_backup_age(status: Any) -> None:
    (backup,) = status.backups
    assert (backup.host, backup.stanza, backup.too_old) == ("backup-1", "main", True)


def test_plain_text(status: Any) -> None:
    lines = render_text(status)
    assert lines[0] == "pdic status: lab from http://mon:9090"
    assert (
        "  db          red    0/1 up  not scraped: postgres; 1 of 1 targets down; 1 critical alert"
        in lines
    )
    assert "firing alerts: 1" in lines
    assert "  critical  HostDown  db-1  monitoring/runbooks/HostDown.md" in lines
    assert any(line.startswith("  8d ") and "db-1" not in line for line in lines)
    assert any("backup-1 main: 1d 6h ago  TOO OLD" in line for line in lines)


def test_rich_output_renders(status: Any) -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(render_rich(status))
    text = console.export_text()
    assert "HostDown" in text and "db" in text and "TOO OLD" not in text


def test_human_duration() -> None:
    assert human_duration(9 * 86400 + 3 * 3600 + 5) == "9d 3h"
    assert human_duration(42) == "42s"
    assert human_duration(-90000) == "expired 1d 1h ago"
    assert human_duration(float("inf")) == "never"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        code, body = _response(url.path, params)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_cli_json_over_http(prometheus: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "-i", str(LAB), "--prometheus", prometheus, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prometheus"] == prometheus
    assert {s["name"]: s["state"] for s in data["services"]}["db"] == "red"
    assert data["backups"][0]["stanza"] == "main"


def test_cli_plain_text_when_not_a_terminal(
    prometheus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "-i", str(LAB), "--prometheus", prometheus]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"pdic status: lab from {prometheus}"


def test_unreachable_prometheus_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert main(["status", "-i", str(LAB), "--prometheus", url]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"pdic: error: cannot reach Prometheus at {url}: ")


def test_prometheus_error_body_is_reported(prometheus: str) -> None:
    from pdic.monitoring.status import http_fetch

    with pytest.raises(StatusError, match=r"HTTP 400: invalid parameter \"query\""):
        http_fetch(prometheus)("/api/v1/query", {"query": "up{"})


def _lab_replay(path: str, params: Mapping[str, str]) -> Any:
    name = "alerts" if path == "/api/v1/alerts" else BY_QUERY[params["query"]]
    return json.loads((FIXTURES / "lab" / f"{name}.json").read_bytes())["data"]


def test_failed_probes_count_as_targets_down() -> None:
    """Recorded from the lab's Prometheus on mon-1 after the monitoring play, before any web
    or mail service existed: the blackbox exporter answers (up == 1) but its probes of the
    three portal sites, the application health checks and the mail ports fail."""
    status = centre_status(load_inventory(LAB), "http://10.251.0.61:9090", fetch=_lab_replay)
    states = {s.name: (s.state, s.up, s.targets, s.reasons) for s in status.services}
    assert states["portal"] == ("amber", 2, 5, ("3 of 5 targets down",))
    # Recorded before the mail play: the mail exporters were not deployed, so not scraped.
    assert states["mail"] == ("red", 2, 5, ("not scraped: dovecot, postfix", "3 of 5 targets down"))
    assert states["eoffice"] == ("amber", 2, 3, ("1 of 3 targets down",))
    assert states["pki"] == ("green", 2, 2, ())
    assert {a.name for a in status.alerts} >= {"PortalSiteDown", "MailPortDown"}
    assert all(a.state == "pending" for a in status.alerts)


def test_a_deployed_exporter_that_is_not_scraped_is_red() -> None:
    """The lab once ran the postgres exporter on both db hosts with no scrape job for it: db
    showed green while PostgreSQL was down. Every db target answering, no pg_up anywhere."""
    recorded = json.loads((FIXTURES / "lab" / "up.json").read_bytes())["data"]
    assert not any(s["metric"].get("job") == "postgres" for s in recorded["result"])

    def fetch(path: str, params: Mapping[str, str]) -> Any:
        if path == "/api/v1/alerts":
            return {"alerts": []}
        return (
            recorded if params["query"] == QUERIES["up"] else {"resultType": "vector", "result": []}
        )

    status = centre_status(load_inventory(LAB), "http://10.251.0.61:9090", fetch=fetch)
    db = next(s for s in status.services if s.name == "db")
    assert (db.state, db.up, db.targets, db.reasons) == ("red", 4, 4, ("not scraped: postgres",))
    with_postgres = {
        **recorded,
        "result": [
            *recorded["result"],
            *(
                {"metric": {"job": "postgres", "service": "db", "host": h}, "value": [0, "1"]}
                for h in ("db-1", "db-2")
            ),
        ],
    }
    status = centre_status(
        load_inventory(LAB),
        "http://10.251.0.61:9090",
        fetch=lambda path, params: (
            with_postgres
            if path != "/api/v1/alerts" and params["query"] == QUERIES["up"]
            else fetch(path, params)
        ),
    )
    db = next(s for s in status.services if s.name == "db")
    assert (db.state, db.up, db.targets) == ("green", 6, 6)


def test_the_watchdog_is_left_out() -> None:
    """It always fires (severity none): listing it would teach people to overlook the list."""

    def fetch(path: str, params: Mapping[str, str]) -> Any:
        data = replay(path, params)
        if path == "/api/v1/alerts":
            watchdog = {
                "labels": {"alertname": "Watchdog", "severity": "none", "team": "platform"},
                "annotations": {"summary": "The alert path works"},
                "state": "firing",
                "activeAt": "2025-11-28T03:00:00Z",
                "value": "1e+00",
            }
            data = {**data, "alerts": [*data["alerts"], watchdog]}
        return data

    status = centre_status(load_inventory(LAB), "http://mon:9090", fetch=fetch)
    assert "Watchdog" not in {a.name for a in status.alerts}
    assert status.alerts == centre_status(load_inventory(LAB), "http://mon:9090", replay).alerts
