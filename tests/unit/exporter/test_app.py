"""build_collectors/build_registry from config, the HTTP server, and the command line."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pdic.exporter import app
from pdic.exporter.backup import BackupCollector
from pdic.exporter.compliance import ComplianceCollector
from pdic.exporter.mail import MailQueueCollector
from pdic.exporter.pki import CertificateCollector, CrlCollector
from pdic.exporter.sources import ExporterError

from .conftest import DAY, NOW, MakeCert, pem, write

ALL_ON: dict[str, Any] = {
    "collectors": {
        "certificates": {"paths": ["/etc/ssl/pdic/*.pem"]},
        "crls": {"paths": ["/var/lib/pdic-ca/crl/*.crl"]},
        "backup": {},
        "mail_queue": None,
        "compliance": {"enabled": True, "path": "/srv/audit/audit.prom"},
    }
}


def test_every_collector_on() -> None:
    collectors = app.build_collectors(ALL_ON)
    assert [type(c) for c in collectors.values()] == [
        CertificateCollector,
        CrlCollector,
        BackupCollector,
        MailQueueCollector,
        ComplianceCollector,
    ]
    backup = collectors["backup"]
    assert isinstance(backup, BackupCollector)
    assert backup.state_file == "/var/lib/pdic/backup-state.json"
    compliance = collectors["compliance"]
    assert isinstance(compliance, ComplianceCollector)
    assert str(compliance.path) == "/srv/audit/audit.prom"


def test_certificate_paths_may_name_their_agency(tmp_path: Path, make_cert: MakeCert) -> None:
    org = write(tmp_path / "so-tu-phap.crt", pem(make_cert("Sở Tư pháp", NOW, NOW + DAY)))
    host = write(tmp_path / "host.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + DAY)))
    config = {
        "collectors": {
            "certificates": {"paths": [host, {"path": org, "agency": "so-tu-phap"}]},
        }
    }
    text = generate_latest(app.build_registry(config, now=lambda: NOW)).decode()
    assert f'pdic_cert_expiry_seconds{{agency="so-tu-phap",path="{org}"' in text
    assert f'pdic_cert_expiry_seconds{{agency="",path="{host}"' in text


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "/x.crt", "agency": "a", "owner": "b"}, r"paths\[0\]: unknown keys: owner"),
        ({"agency": "a"}, r"paths\[0\]\.path: expected a non-empty string"),
        ({"path": "/x.crt", "agency": 5}, r"paths\[0\]\.agency: expected a string"),
        (5, r"paths\[0\]: expected a non-empty string"),
    ],
)
def test_bad_certificate_entries_are_refused(entry: Any, message: str) -> None:
    with pytest.raises(ExporterError, match=message):
        app.build_collectors({"collectors": {"certificates": {"paths": [entry]}}})


def test_enabled_false_and_absent_sections_are_off() -> None:
    config = {
        "collectors": {
            "certificates": {"enabled": False, "paths": ["/x.pem"]},
            "backup": {"enabled": False},
            "mail_queue": {},
        }
    }
    assert list(app.build_collectors(config)) == ["mail_queue"]
    assert app.build_collectors({}) == {}


def test_registering_reads_no_source() -> None:
    # every source of ALL_ON is missing here: building must not touch them
    registry = app.build_registry(ALL_ON)
    assert isinstance(registry, CollectorRegistry)


def test_mail_queue_command_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []
    monkeypatch.setattr(app, "run_postqueue", lambda *args: seen.append(args) or "")
    config = {"collectors": {"mail_queue": {"command": ["sudo", "postqueue", "-j"]}}}
    generate_latest(app.build_registry(config))
    assert seen == [(["sudo", "postqueue", "-j"], 10.0)]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "config: expected a mapping"),
        ({"colectors": {}}, "config: unknown keys: colectors"),
        ({"collectors": []}, "collectors: expected a mapping"),
        ({"collectors": {"certs": {}}}, "unknown collectors: certs"),
        ({"collectors": {"certificates": {}}}, r"collectors\.certificates: missing paths"),
        ({"collectors": {"certificates": {"paths": "/x.pem"}}}, "expected a list"),
        ({"collectors": {"crls": {"paths": [""]}}}, "expected a list of non-empty strings"),
        ({"collectors": {"backup": {"state_fil": "/x"}}}, r"backup: unknown keys: state_fil"),
        ({"collectors": {"backup": {"enabled": "yes"}}}, r"backup\.enabled: expected true"),
        ({"collectors": {"backup": ["/x"]}}, r"collectors\.backup: expected a mapping"),
        ({"collectors": {"backup": []}}, r"collectors\.backup: expected a mapping"),
        ({"collectors": {"mail_queue": {"timeout_seconds": 0}}}, "timeout_seconds"),
        ({"collectors": {"compliance": {"path": 5}}}, r"compliance\.path"),
    ],
)
def test_bad_config_is_refused(config: Any, message: str) -> None:
    with pytest.raises(ExporterError, match=message):
        app.build_collectors(config)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ("0.0.0.0", 9469)),
        ({"listen_address": "10.20.0.5", "port": 9470}, ("10.20.0.5", 9470)),
    ],
)
def test_listen_on(config: dict[str, Any], expected: tuple[str, int]) -> None:
    assert app.listen_on(config) == expected


@pytest.mark.parametrize("config", [{"port": "9469"}, {"port": 70000}, {"listen_address": ""}])
def test_bad_listen_settings(config: dict[str, Any]) -> None:
    with pytest.raises(ExporterError):
        app.listen_on(config)


def test_yaml_and_json_config_files(tmp_path: Path) -> None:
    yml = tmp_path / "exporter.yml"
    yml.write_text("collectors:\n  backup:\n    state_file: /var/lib/pdic/b.json\n")
    js = tmp_path / "exporter.json"
    js.write_text(json.dumps({"collectors": {"backup": {"state_file": "/var/lib/pdic/b.json"}}}))
    assert app.load_config(yml) == app.load_config(js)
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    assert app.load_config(empty) == {}


@pytest.mark.parametrize(
    ("content", "message"), [("- a\n- b\n", "expected a mapping"), ("a: [\n", "not YAML")]
)
def test_bad_config_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text(content)
    with pytest.raises(ExporterError, match=message):
        app.load_config(path)


@pytest.fixture
def server_for() -> Iterator[Any]:
    servers = []

    def start(config: dict[str, Any]) -> str:
        server = app.start(config, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/metrics"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_http_scrape(tmp_path: Path, make_cert: MakeCert, server_for: Any) -> None:
    write(tmp_path / "portal.pem", pem(make_cert("portal.thaibinh.gov.vn", NOW, NOW + 10 * DAY)))
    state = tmp_path / "backup-state.json"
    state.write_text('{"stanzas": {"main": {"last_success": 1764300000}}}')
    config = {
        "collectors": {
            "certificates": {"paths": [str(tmp_path / "*.pem")]},
            "backup": {"state_file": str(state)},
        }
    }
    with urllib.request.urlopen(server_for(config), timeout=5) as response:
        assert response.status == 200
        body = response.read().decode()
    assert (
        f'pdic_cert_expiry_seconds{{agency="",path="{tmp_path}/portal.pem",subject="CN=portal'
        in body
    )
    assert 'pdic_backup_last_success_timestamp_seconds{stanza="main"} 1.7643e+09' in body


def test_http_scrape_fails_when_a_source_fails(tmp_path: Path, server_for: Any) -> None:
    config = {"collectors": {"backup": {"state_file": str(tmp_path / "missing.json")}}}
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server_for(config), timeout=5)
    assert info.value.code == 500
    assert info.value.read().decode() == (
        f"scrape failed: {tmp_path}/missing.json: No such file or directory\n"
    )


def test_main_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "exporter.yml"
    good.write_text("collectors:\n  backup: {}\n")
    assert app.main(["--config", str(good), "--check-config"]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("collectors:\n  backups: {}\n")
    assert app.main(["--config", str(bad), "--check-config"]) == 2
    assert capsys.readouterr().err == (
        "pdic-exporter: collectors: unknown collectors: backups "
        "(known: certificates, crls, backup, mail_queue, compliance, fail2ban, alert_webhook)\n"
    )


def test_main_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "backup-state.json"
    state.write_text('{"stanzas": {"main": {"last_success": 5}}}')
    config = tmp_path / "exporter.yml"
    config.write_text(json.dumps({"collectors": {"backup": {"state_file": str(state)}}}))
    assert app.main(["--config", str(config), "--once"]) == 0
    assert (
        'pdic_backup_last_success_timestamp_seconds{stanza="main"} 5.0' in capsys.readouterr().out
    )
    state.unlink()
    assert app.main(["--config", str(config), "--once"]) == 2
    assert "backup-state.json: No such file" in capsys.readouterr().err


def test_main_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["--config", str(tmp_path / "none.yml")]) == 2
    assert "none.yml: No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "port: expected a port number"),
        (["--listen-address", ""], "listen_address: expected a non-empty string"),
    ],
)
def test_main_bad_listen_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text("port: 9469\n")
    assert app.main(["--config", str(config), "--check-config", *argv]) == 2
    assert message in capsys.readouterr().err


NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "receiver": "second-path",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "Watchdog", "severity": "none"}},
        {"status": "firing", "labels": {"alertname": "HostDown", "severity": "critical"}},
    ],
}


def _post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_alert_webhook_counts_alertmanagers_notifications(server_for: Any) -> None:
    metrics = server_for({"collectors": {"alert_webhook": {}}})
    base = metrics.removesuffix("/metrics")
    assert _post(f"{base}/alerts", json.dumps(NOTIFICATION).encode()) == (
        200,
        "2 alert(s) received\n",
    )
    assert _post(f"{base}/alerts", json.dumps(NOTIFICATION).encode())[0] == 200
    with urllib.request.urlopen(metrics, timeout=5) as response:
        body = response.read().decode()
    assert (
        'pdic_alert_webhook_notifications_total{alertname="Watchdog",severity="none",'
        'status="firing"} 2.0' in body
    )
    assert 'pdic_alert_webhook_last_notification_timestamp_seconds{alertname="HostDown"}' in body


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/alerts", b"{not json", 400),
        ("/alerts", b'{"alerts": [{"labels": {}}]}', 400),
        ("/alerts", b"", 413),
        ("/metrics", b"{}", 405),
    ],
)
def test_the_alert_webhook_refuses_what_is_not_a_notification(
    server_for: Any, path: str, body: bytes, code: int
) -> None:
    base = server_for({"collectors": {"alert_webhook": {}}}).removesuffix("/metrics")
    assert _post(f"{base}{path}", body)[0] == code


def test_without_the_webhook_nothing_may_be_posted(server_for: Any) -> None:
    base = server_for({"collectors": {}}).removesuffix("/metrics")
    assert _post(f"{base}/alerts", json.dumps(NOTIFICATION).encode())[0] == 405
