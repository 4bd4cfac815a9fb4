"""`pdic-exporter`: the collectors a config file turns on, served over HTTP for Prometheus.

Config (YAML or JSON, default ``/etc/pdic/exporter.yml``)::

    listen_address: 0.0.0.0        # optional; --listen-address overrides
    port: 9469                     # optional; --port overrides
    collectors:                    # a collector is on when its section is here,
      certificates:                #   unless the section says enabled: false
        paths:                     # a path or glob, or {path, agency} (the agency label)
          - /etc/ssl/pdic/*.pem
          - {path: /etc/pdic/org-signing/so-tu-phap*.crt, agency: so-tu-phap}
      crls:
        paths: [/var/lib/pdic-ca/crl/*.crl]
      backup:
        state_file: /var/lib/pdic/backup-state.json   # the default
      mail_queue:
        command: [postqueue, -j]                       # the default
        timeout_seconds: 10                            # the default
      compliance:
        enabled: false
        path: /var/lib/pdic/audit/audit.prom           # the default
      fail2ban:                                        # the fail2ban role's status file
        status_file: /run/pdic-fail2ban/status         # the default
        max_age_seconds: 180                           # older: pdic_fail2ban_up 0
      alert_webhook:                                   # Alertmanager's second alert path
        path: /alerts                                  # the default (POST)

Unknown keys are errors, so a misspelt option is caught when the config is checked
(``pdic-exporter --config FILE --check-config``) rather than silently ignored. Every collector
reads its source at scrape time; one that fails makes the whole scrape fail (HTTP 500, the
reason in the body and as one line on stderr, i.e. the journal), so Prometheus' ``up`` for the
pdic job turns 0.

It does not discover what to watch: the role that installs the exporter renders the config from
the inventory.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import yaml
from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.registry import Collector

from pdic.exporter.alerts import MAX_BODY, AlertWebhook, WebhookError
from pdic.exporter.backup import DEFAULT_STATE_FILE, BackupCollector
from pdic.exporter.compliance import DEFAULT_PATH as DEFAULT_COMPLIANCE_PATH
from pdic.exporter.compliance import ComplianceCollector
from pdic.exporter.fail2ban import DEFAULT_MAX_AGE, DEFAULT_STATUS_FILE, Fail2banCollector
from pdic.exporter.mail import POSTQUEUE, MailQueueCollector, run_postqueue
from pdic.exporter.pki import CertificateCollector, CrlCollector
from pdic.exporter.sources import ExporterError

DEFAULT_CONFIG = "/etc/pdic/exporter.yml"
DEFAULT_ADDRESS = "0.0.0.0"
DEFAULT_PORT = 9469
Clock = Callable[[], float]
log = logging.getLogger("pdic.exporter")


def _strings(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ExporterError(f"{where}: expected a list of non-empty strings")
    return list(value)


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ExporterError(f"{where}: expected a non-empty string")
    return value


def _seconds(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ExporterError(f"{where}: expected a number of seconds > 0")
    return float(value)


def _certificates(opts: Mapping[str, Any], now: Clock) -> Collector:
    where = "collectors.certificates.paths"
    value = opts["paths"]
    if not isinstance(value, list):
        raise ExporterError(f"{where}: expected a list of paths or of {{path, agency}}")
    paths: list[str] = []
    agencies: dict[str, str] = {}
    for i, entry in enumerate(value):
        if isinstance(entry, Mapping):
            unknown = sorted(map(str, set(entry) - {"path", "agency"}))
            if unknown:
                raise ExporterError(f"{where}[{i}]: unknown keys: {', '.join(unknown)}")
            path = _string(f"{where}[{i}].path", entry.get("path"))
            agency = entry.get("agency", "")
            if not isinstance(agency, str):
                raise ExporterError(f"{where}[{i}].agency: expected a string")
            if agency and path not in agencies:
                agencies[path] = agency
        else:
            path = _string(f"{where}[{i}]", entry)
        paths.append(path)
    return CertificateCollector(paths, now, agencies)


def _crls(opts: Mapping[str, Any], now: Clock) -> Collector:
    return CrlCollector(_strings("collectors.crls.paths", opts["paths"]), now)


def _backup(opts: Mapping[str, Any], now: Clock) -> Collector:
    return BackupCollector(_string("collectors.backup.state_file", opts["state_file"]))


def _mail_queue(opts: Mapping[str, Any], now: Clock) -> Collector:
    command = _strings("collectors.mail_queue.command", opts["command"])
    timeout = _seconds("collectors.mail_queue.timeout_seconds", opts["timeout_seconds"])
    return MailQueueCollector(partial(run_postqueue, command, timeout), now)


def _compliance(opts: Mapping[str, Any], now: Clock) -> Collector:
    return ComplianceCollector(_string("collectors.compliance.path", opts["path"]))


def _fail2ban(opts: Mapping[str, Any], now: Clock) -> Collector:
    return Fail2banCollector(
        _string("collectors.fail2ban.status_file", opts["status_file"]),
        now,
        _seconds("collectors.fail2ban.max_age_seconds", opts["max_age_seconds"]),
    )


def _alert_webhook(opts: Mapping[str, Any], now: Clock) -> Collector:
    path = _string("collectors.alert_webhook.path", opts["path"])
    if not path.startswith("/"):
        raise ExporterError("collectors.alert_webhook.path: expected a path starting with /")
    return AlertWebhook(path, now)


# name: (options with their defaults, None where the option is required; factory)
COLLECTORS: dict[str, tuple[dict[str, Any], Callable[[Mapping[str, Any], Clock], Collector]]] = {
    "certificates": ({"paths": None}, _certificates),
    "crls": ({"paths": None}, _crls),
    "backup": ({"state_file": DEFAULT_STATE_FILE}, _backup),
    "mail_queue": ({"command": list(POSTQUEUE), "timeout_seconds": 10}, _mail_queue),
    "compliance": ({"path": DEFAULT_COMPLIANCE_PATH}, _compliance),
    "fail2ban": (
        {"status_file": DEFAULT_STATUS_FILE, "max_age_seconds": DEFAULT_MAX_AGE},
        _fail2ban,
    ),
    "alert_webhook": ({"path": "/alerts"}, _alert_webhook),
}
_TOP_KEYS = {"listen_address", "port", "collectors"}


def build_collectors(config: Mapping[str, Any], now: Clock = time.time) -> dict[str, Collector]:
    """The collectors the config turns on, by name, in the order of :data:`COLLECTORS`."""
    if not isinstance(config, Mapping):
        raise ExporterError("config: expected a mapping")
    unknown = sorted(set(config) - _TOP_KEYS)
    if unknown:
        raise ExporterError(f"config: unknown keys: {', '.join(unknown)}")
    sections = config.get("collectors")
    sections = {} if sections is None else sections
    if not isinstance(sections, Mapping):
        raise ExporterError("collectors: expected a mapping")
    unknown = sorted(set(sections) - set(COLLECTORS))
    if unknown:
        raise ExporterError(
            f"collectors: unknown collectors: {', '.join(map(str, unknown))} "
            f"(known: {', '.join(COLLECTORS)})"
        )
    collectors: dict[str, Collector] = {}
    for name, (defaults, factory) in COLLECTORS.items():
        if name not in sections:
            continue
        section = {} if sections[name] is None else sections[name]
        if not isinstance(section, Mapping):
            raise ExporterError(f"collectors.{name}: expected a mapping")
        unknown = sorted(set(section) - set(defaults) - {"enabled"})
        if unknown:
            raise ExporterError(f"collectors.{name}: unknown keys: {', '.join(map(str, unknown))}")
        enabled = section.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ExporterError(f"collectors.{name}.enabled: expected true or false")
        if not enabled:
            continue
        opts = {**defaults, **{k: v for k, v in section.items() if k != "enabled"}}
        missing = [k for k, v in opts.items() if v is None]
        if missing:
            raise ExporterError(f"collectors.{name}: missing {', '.join(missing)}")
        collectors[name] = factory(opts, now)
    return collectors


def build_registry(config: Mapping[str, Any], now: Clock = time.time) -> CollectorRegistry:
    """A private registry holding the collectors the config turns on (none is collected yet)."""
    return _registry(build_collectors(config, now))


def _registry(collectors: Mapping[str, Collector]) -> CollectorRegistry:
    registry = CollectorRegistry()
    for collector in collectors.values():
        registry.register(collector)
    return registry


def load_config(path: str | Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExporterError(f"{path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ExporterError(f"{path}: not YAML or JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ExporterError(f"{path}: expected a mapping")
    return data


def listen_on(config: Mapping[str, Any]) -> tuple[str, int]:
    """``(address, port)`` from the config, with the defaults."""
    address = _string("listen_address", config.get("listen_address", DEFAULT_ADDRESS))
    port = config.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ExporterError("port: expected a port number (0-65535)")
    return address, port


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: Prometheus scrapes every few seconds."""


def _answer(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [f"{text}\n".encode()]


def _receive(
    webhook: AlertWebhook, environ: WSGIEnvironment, start_response: StartResponse
) -> list[bytes]:
    """A POST of Alertmanager's webhook to the receiver's path."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if not 0 < length <= MAX_BODY:
        return _answer(start_response, "413 Payload Too Large", "a notification of 1..1 MiB")
    body = environ["wsgi.input"].read(length)
    try:
        count = webhook.receive(body)
    except WebhookError as exc:
        return _answer(start_response, "400 Bad Request", f"not a notification: {exc}")
    return _answer(start_response, "200 OK", f"{count} alert(s) received")


def make_app(registry: CollectorRegistry, webhook: AlertWebhook | None = None) -> WSGIApplication:
    """prometheus_client's WSGI app, except that a scrape a source fails is answered with a
    500 whose body says which source and why, and one line on stderr says the same. With a
    ``webhook``, a POST to its path is a notification of Alertmanager; any other POST is
    refused."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            if webhook is not None and environ.get("PATH_INFO") == webhook.path:
                return _receive(webhook, environ, start_response)
            return _answer(start_response, "405 Method Not Allowed", "nothing to post here")
        try:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        except ExporterError as exc:
            log.error("scrape failed: %s", exc)
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")]
            )
            return [f"scrape failed: {exc}\n".encode()]

    return app


def start(
    config: Mapping[str, Any], address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT
) -> WSGIServer:
    """Serve the config's collectors on ``address:port`` from a daemon thread; port 0 picks one.

    Any path answers with the metrics (as prometheus_client does). The caller stops the server
    with ``server.shutdown()``; ``server.server_port`` is the bound port.
    """
    collectors = build_collectors(config)
    webhook = collectors.get("alert_webhook")
    app = make_app(_registry(collectors), webhook if isinstance(webhook, AlertWebhook) else None)
    try:
        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
        server_class: type[_Server] = type("_Server", (_Server,), {"address_family": family})
        server = make_server(address, port, app, server_class, handler_class=_QuietHandler)
    except OSError as exc:
        raise ExporterError(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from exc
    threading.Thread(target=server.serve_forever, name="pdic-exporter-http", daemon=True).start()
    log.info("listening on %s:%d", address, server.server_port)
    return server


def serve(
    config: Mapping[str, Any], address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT
) -> None:
    """Serve until SIGTERM or SIGINT."""
    server = start(config, address, port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pdic-exporter", description="Serve pdic's metrics for Prometheus."
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"default {DEFAULT_CONFIG}")
    parser.add_argument("--listen-address", help="overrides the config's listen_address")
    parser.add_argument("--port", type=int, help="overrides the config's port")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check-config", action="store_true", help="check the config and exit (reads no source)"
    )
    mode.add_argument("--once", action="store_true", help="print one scrape to stdout and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="pdic-exporter: %(message)s")
    try:
        config = load_config(args.config)
        registry = build_registry(config)
        overrides = {"listen_address": args.listen_address, "port": args.port}
        address, port = listen_on(
            {**config, **{k: v for k, v in overrides.items() if v is not None}}
        )
        if args.check_config:
            return 0
        if args.once:
            sys.stdout.write(generate_latest(registry).decode("utf-8"))
            return 0
        serve(config, address, port)
    except ExporterError as exc:
        print(f"pdic-exporter: {exc}", file=sys.stderr)
        return 2
    return 0
