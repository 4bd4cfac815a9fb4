"""pdic's reference application as a WSGI callable: an e-office or one-stop-shop stand-in.

One code base, two flavours (``RELEASE.json``'s ``app``, written by ``pdic app build``):

- ``eoffice``: ``POST /documents`` stores a document (the body) and answers its id, sha256 and
  a receipt (HMAC-SHA256 of the sha256 with the secret key, when one is set);
  ``GET /documents/ID`` hands it out again. Counted as documents received and exchanged.
- ``hcc`` (the one-stop shop): ``POST /files`` stores a citizen's file as received;
  ``POST /files/ID/process`` marks it processed; ``GET /files/ID`` tells its state. Counted as
  files received and processed.

Both answer:

- ``GET /healthz``: 200 ``{"status": "ok", ...}`` when a real query on its database succeeds
  (``SELECT current_database()`` over TLS, ``sslmode=verify-full`` against the centre's root,
  on the primary named in the file ``PDIC_APP_DB_HOST_FILE``, read at every check so that
  ``pdic db promote`` re-points it without a restart) and a file can be written and removed in
  its storage directory; else 503 with ``"reason"`` naming what failed. A release built with
  ``"fault": "healthz"`` always answers 503 (the deliberately broken test release).
- ``GET /metrics``: Prometheus' text format (requests and errors by route, and the flavour's
  counters), to direct clients only (the monitoring host on the application's port); through
  the proxy (a request with ``X-Forwarded-For``) it is 404.
- ``GET /version``: ``{"app", "version"}``; ``GET /``: the same with the title.

Settings come from the environment (role app_service's settings file): ``PDIC_APP_NAME``,
``PDIC_APP_TITLE``, ``PDIC_APP_STORAGE``, ``PDIC_APP_DB_HOST_FILE``, ``PDIC_APP_DB_PORT``,
``PDIC_APP_DB_NAME``, ``PDIC_APP_DB_USER``, ``PDIC_APP_DB_PASSWORD``, ``PDIC_APP_DB_SSLMODE``,
``PDIC_APP_DB_SSLROOTCERT``; its own secret, the key of the receipts, is ``REFAPP_SECRET_KEY``
(the inventory's ``secrets`` of the application). Without ``PDIC_APP_DB_NAME`` there is no
database to check. Under gunicorn with several workers, ``PROMETHEUS_MULTIPROC_DIR`` makes the
counters add up across them.

It uses the standard library, prometheus-client and psycopg2 (imported when the first real
connection is made) as Debian 12 packages them; it keeps no state but the files in its storage.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

RELEASE_FILE = Path(__file__).resolve().parent.parent / "RELEASE.json"
FLAVOURS = ("eoffice", "hcc")
ID = re.compile(r"[0-9a-f]{32}")
MAX_BODY = 16 * 1024 * 1024
CONNECT_TIMEOUT = 3

StartResponse = Callable[..., Any]
Connect = Callable[..., Any]


@dataclass(frozen=True)
class Release:
    """What ``pdic app build`` wrote into the release: flavour, version, fault."""

    app: str
    version: str
    fault: str | None = None

    @classmethod
    def load(cls, path: Path = RELEASE_FILE) -> Release:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls("eoffice", "dev")
        app = str(data.get("app", "eoffice"))
        if app not in FLAVOURS:
            raise ValueError(f"{path}: app {app!r} is not one of {', '.join(FLAVOURS)}")
        fault = data.get("fault")
        return cls(app, str(data.get("version", "dev")), str(fault) if fault else None)


@dataclass(frozen=True)
class Settings:
    """The application's settings, from its environment."""

    name: str
    title: str
    storage: Path
    db_host_file: Path
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    db_sslmode: str
    db_sslrootcert: str
    secret_key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], release: Release) -> Settings:
        def get(key: str, default: str = "") -> str:
            return str(env.get(f"PDIC_APP_{key}", default))

        return cls(
            name=get("NAME", release.app),
            title=get("TITLE", release.app),
            storage=Path(get("STORAGE", "/var/lib/pdic-apps/refapp/storage")),
            db_host_file=Path(get("DB_HOST_FILE", "/etc/pdic/db-primary")),
            db_port=int(get("DB_PORT", "5432")),
            db_name=get("DB_NAME"),
            db_user=get("DB_USER"),
            db_password=get("DB_PASSWORD"),
            db_sslmode=get("DB_SSLMODE", "verify-full"),
            db_sslrootcert=get("DB_SSLROOTCERT"),
            secret_key=str(env.get("REFAPP_SECRET_KEY", "")),
        )


def psycopg2_connect(**kwargs: Any) -> Any:
    import psycopg2

    return psycopg2.connect(**kwargs)


class Metrics:
    """The counters, in a private registry (or per worker files under PROMETHEUS_MULTIPROC_DIR,
    gathered at each scrape)."""

    def __init__(self, flavour: str, multiprocess_dir: str | None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        registry = None if multiprocess_dir else self.registry
        self.requests = Counter(
            "pdic_app_http_requests",
            "HTTP requests answered, by route, method and status code.",
            ["route", "method", "code"],
            registry=registry,
        )
        self.errors = Counter(
            "pdic_app_http_errors",
            "Requests answered with a server error (5xx), by route.",
            ["route"],
            registry=registry,
        )
        self.flavour: dict[str, Counter] = {}
        names = {
            "eoffice": (
                ("documents_received", "Documents received (POST /documents)."),
                ("documents_exchanged", "Documents handed out to their recipient."),
            ),
            "hcc": (
                ("files_received", "Citizens' files received (POST /files)."),
                ("files_processed", "Files marked processed."),
            ),
        }[flavour]
        for name, text in names:
            self.flavour[name] = Counter(f"pdic_app_{name}", text, registry=registry)

    def exposition(self) -> bytes:
        if not self.multiprocess_dir:
            return bytes(generate_latest(self.registry))
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))


class Response:
    def __init__(
        self, status: int, body: bytes | str | Mapping[str, Any], content_type: str = ""
    ) -> None:
        self.status = status
        if isinstance(body, Mapping):
            self.body = (json.dumps(body, ensure_ascii=False, sort_keys=True) + "\n").encode()
            self.content_type = content_type or "application/json"
        else:
            self.body = body.encode() if isinstance(body, str) else body
            self.content_type = content_type or "text/plain; charset=utf-8"


REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Application:
    """The WSGI callable of one release (see the module docstring for what it answers)."""

    def __init__(
        self,
        release: Release,
        settings: Settings,
        connect: Connect = psycopg2_connect,
        multiprocess_dir: str | None = None,
    ) -> None:
        self.release = release
        self.settings = settings
        self.connect = connect
        self.metrics = Metrics(release.app, multiprocess_dir)
        self.lock = threading.Lock()

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(
        self, environ: Mapping[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "/")) or "/"
        route, handler, args = self.route(method, path)
        try:
            response = handler(environ, *args)
        except Exception as exc:  # every failure is an answer, logged for the operator
            errors = environ.get("wsgi.errors", sys.stderr)
            print(f"{self.settings.name}: {method} {path}: {exc!r}", file=errors)
            response = Response(500, {"error": "internal error"})
        self.metrics.requests.labels(route, method, str(response.status)).inc()
        if response.status >= 500:
            self.metrics.errors.labels(route).inc()
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("Cache-Control", "no-store"),
        ]
        start_response(f"{response.status} {REASONS.get(response.status, '')}".strip(), headers)
        return [response.body]

    def route(self, method: str, path: str) -> tuple[str, Callable[..., Response], tuple[str, ...]]:
        """The route template (the metrics' label), its handler and the path's arguments."""
        parts = [p for p in path.split("/") if p]
        fixed: dict[tuple[str, str], Callable[..., Response]] = {
            ("GET", "/"): self.index,
            ("GET", "/healthz"): self.healthz,
            ("GET", "/metrics"): self.metrics_page,
            ("GET", "/version"): self.version,
        }
        if self.release.app == "eoffice":
            fixed["POST", "/documents"] = self.receive_document
        else:
            fixed["POST", "/files"] = self.receive_file
        if (method, path) in fixed:
            return path, fixed[method, path], ()
        if path in {p for _, p in fixed}:
            return path, self.not_allowed, ()
        kind = "documents" if self.release.app == "eoffice" else "files"
        if len(parts) >= 2 and parts[0] == kind and ID.fullmatch(parts[1]):
            if len(parts) == 2:
                handler = self.get_document if kind == "documents" else self.file_state
                if method == "GET":
                    return f"/{kind}/{{id}}", handler, (parts[1],)
                return f"/{kind}/{{id}}", self.not_allowed, ()
            if kind == "files" and parts[2:] == ["process"]:
                if method == "POST":
                    return "/files/{id}/process", self.process_file, (parts[1],)
                return "/files/{id}/process", self.not_allowed, ()
        return "other", self.not_found, ()

    # -- answers -------------------------------------------------------------------------------

    def about(self) -> dict[str, str]:
        return {"app": self.settings.name, "version": self.release.version}

    def index(self, environ: Mapping[str, Any]) -> Response:
        return Response(200, {**self.about(), "title": self.settings.title})

    def version(self, environ: Mapping[str, Any]) -> Response:
        return Response(200, self.about())

    def not_found(self, environ: Mapping[str, Any]) -> Response:
        return Response(404, {"error": "not found"})

    def not_allowed(self, environ: Mapping[str, Any]) -> Response:
        return Response(405, {"error": "method not allowed"})

    def metrics_page(self, environ: Mapping[str, Any]) -> Response:
        if environ.get("HTTP_X_FORWARDED_FOR"):
            return self.not_found(environ)
        return Response(200, self.metrics.exposition(), CONTENT_TYPE_LATEST)

    def healthz(self, environ: Mapping[str, Any]) -> Response:
        if self.release.fault == "healthz":
            reason = f"release {self.release.version} is built broken on purpose (fault: healthz)"
            return Response(503, {**self.about(), "status": "fail", "reason": reason})
        checks = {"database": self.check_database(), "storage": self.check_storage()}
        failed = [f"{name}: {why}" for name, why in checks.items() if why]
        body: dict[str, Any] = {
            **self.about(),
            "checks": {name: why or "ok" for name, why in checks.items()},
        }
        if failed:
            return Response(503, {**body, "status": "fail", "reason": "; ".join(failed)})
        return Response(200, {**body, "status": "ok"})

    def check_database(self) -> str | None:
        """None if a real query on the application's database succeeds, else why not."""
        s = self.settings
        if not s.db_name:
            return None
        try:
            host = s.db_host_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return f"no primary named in {s.db_host_file} ({exc.strerror})"
        if not host:
            return f"no primary named in {s.db_host_file}"
        try:
            conn = self.connect(
                host=host,
                port=s.db_port,
                dbname=s.db_name,
                user=s.db_user,
                password=s.db_password,
                sslmode=s.db_sslmode,
                sslrootcert=s.db_sslrootcert,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=f"pdic-app-{s.name}",
            )
        except Exception as exc:
            return f"cannot connect to {s.db_name} on {host}: {_first_line(exc)}"
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT current_database()")
            row = cursor.fetchone()
        except Exception as exc:
            return f"query on {s.db_name} at {host} failed: {_first_line(exc)}"
        finally:
            conn.close()
        if not row or row[0] != s.db_name:
            return f"connected to {row[0] if row else None!r} on {host}, not {s.db_name!r}"
        return None

    def check_storage(self) -> str | None:
        """None if a file can be written, read back and removed in the storage directory."""
        probe = self.settings.storage / f".healthz-{os.getpid()}-{threading.get_ident()}"
        try:
            probe.write_bytes(b"ok")
            ok = probe.read_bytes() == b"ok"
            probe.unlink()
        except OSError as exc:
            return f"{self.settings.storage} is not writable ({exc.strerror})"
        return None if ok else f"{self.settings.storage} gave back another content"

    # -- e-office ------------------------------------------------------------------------------

    def receive_document(self, environ: Mapping[str, Any]) -> Response:
        body = _read_body(environ)
        if body is None:
            return Response(413, {"error": f"a document is at most {MAX_BODY} bytes"})
        if not body:
            return Response(400, {"error": "the document (request body) is empty"})
        digest = hashlib.sha256(body).hexdigest()
        ident = uuid.uuid4().hex
        self.store("documents", ident, body)
        self.metrics.flavour["documents_received"].inc()
        receipt = None
        if self.settings.secret_key:
            key = self.settings.secret_key.encode()
            receipt = hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()
        return Response(201, {"id": ident, "sha256": digest, "receipt": receipt})

    def get_document(self, environ: Mapping[str, Any], ident: str) -> Response:
        path = self.settings.storage / "documents" / ident
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return self.not_found(environ)
        self.metrics.flavour["documents_exchanged"].inc()
        return Response(200, body, "application/octet-stream")

    # -- one-stop shop -------------------------------------------------------------------------

    def receive_file(self, environ: Mapping[str, Any]) -> Response:
        body = _read_body(environ)
        if body is None:
            return Response(413, {"error": f"a file is at most {MAX_BODY} bytes"})
        if not body:
            return Response(400, {"error": "the file (request body) is empty"})
        ident = uuid.uuid4().hex
        self.store("files/received", ident, body)
        self.metrics.flavour["files_received"].inc()
        return Response(201, {"id": ident, "state": "received"})

    def file_state(self, environ: Mapping[str, Any], ident: str) -> Response:
        for state in ("processed", "received"):
            if (self.settings.storage / "files" / state / ident).is_file():
                return Response(200, {"id": ident, "state": state})
        return self.not_found(environ)

    def process_file(self, environ: Mapping[str, Any], ident: str) -> Response:
        received = self.settings.storage / "files" / "received" / ident
        processed = self.settings.storage / "files" / "processed" / ident
        with self.lock:
            if processed.is_file():
                return Response(409, {"id": ident, "state": "processed"})
            if not received.is_file():
                return self.not_found(environ)
            processed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(received, processed)
        self.metrics.flavour["files_processed"].inc()
        return Response(200, {"id": ident, "state": "processed"})

    def store(self, kind: str, ident: str, body: bytes) -> None:
        directory = self.settings.storage / kind
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".{ident}.partial"
        partial.write_bytes(body)
        os.replace(partial, directory / ident)


def _read_body(environ: Mapping[str, Any]) -> bytes | None:
    """The request body, or None if it is larger than MAX_BODY."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return None
    stream = environ.get("wsgi.input")
    return bytes(stream.read(length)) if stream is not None and length > 0 else b""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def create_app(
    env: Mapping[str, str] | None = None,
    connect: Connect = psycopg2_connect,
    release_file: Path = RELEASE_FILE,
) -> Application:
    """The application of this release, with its settings from ``env`` (default: os.environ).

    A release built with ``"fault": "start"`` refuses to start.
    """
    env = os.environ if env is None else env
    release = Release.load(release_file)
    if release.fault == "start":
        raise RuntimeError(f"release {release.version} is built not to start (fault: start)")
    settings = Settings.from_env(env, release)
    return Application(release, settings, connect, env.get("PROMETHEUS_MULTIPROC_DIR") or None)
