"""The reference application's WSGI callable, called with fake environs and a fake database.

Health (a real query and a writable storage directory, else 503 with the reason), the
primary's name read at every check, the deliberately broken release, /version, /metrics (and
not through the proxy), the e-office's documents and the one-stop shop's files with their
counters. Under Debian 12's python3 and prometheus-client 0.16 (as the hosts run it) in
test_debian_python_runs_the_application.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import REFAPP, FakeDatabase, call

DEBIAN_PYTHON = "/usr/bin/python3"


def make(
    refapp: ModuleType,
    tmp_path: Path,
    app: str = "eoffice",
    version: str = "2",
    fault: str | None = None,
    db: FakeDatabase | None = None,
    **env: str,
) -> Any:
    release = tmp_path / "RELEASE.json"
    release.write_text(json.dumps({"app": app, "version": version, "fault": fault}))
    storage = tmp_path / "storage"
    storage.mkdir(exist_ok=True)
    primary = tmp_path / "db-primary"
    primary.write_text("db-1.lab.pdic.internal\n")
    settings = {
        "PDIC_APP_NAME": app,
        "PDIC_APP_STORAGE": str(storage),
        "PDIC_APP_DB_HOST_FILE": str(primary),
        "PDIC_APP_DB_NAME": app,
        "PDIC_APP_DB_USER": f"{app}_app",
        "PDIC_APP_DB_PASSWORD": "s3cret",
        "PDIC_APP_DB_SSLROOTCERT": "/usr/local/share/ca-certificates/pdic/root.crt",
        **env,
    }
    fake = db or FakeDatabase(name=app)
    return refapp.create_app(settings, fake.connect, release)


def test_healthz_is_200_after_a_real_query_and_a_storage_write(
    refapp: ModuleType, tmp_path: Path
) -> None:
    db = FakeDatabase()
    app = make(refapp, tmp_path, db=db)
    answer = call(app, "GET", "/healthz")
    assert answer.status == 200
    assert answer.json() == {
        "app": "eoffice",
        "version": "2",
        "status": "ok",
        "checks": {"database": "ok", "storage": "ok"},
    }
    (settings,) = db.calls
    assert settings["host"] == "db-1.lab.pdic.internal"
    assert settings["sslmode"] == "verify-full"
    assert settings["sslrootcert"] == "/usr/local/share/ca-certificates/pdic/root.crt"
    assert settings["dbname"] == "eoffice" and settings["user"] == "eoffice_app"
    assert settings["connect_timeout"] == 3
    assert db.closed == 1
    assert list((tmp_path / "storage").iterdir()) == []


@pytest.mark.parametrize(
    ("db", "reason"),
    [
        (
            FakeDatabase(fail_connect="connection refused\n\tIs the server running?"),
            "database: cannot connect to eoffice on db-1.lab.pdic.internal: connection refused",
        ),
        (
            FakeDatabase(fail_query="server closed the connection unexpectedly"),
            "database: query on eoffice at db-1.lab.pdic.internal failed: server closed",
        ),
        (FakeDatabase(name="postgres"), "database: connected to 'postgres'"),
    ],
    ids=["refused", "query", "wrong-database"],
)
def test_healthz_is_503_with_the_reason_when_the_database_fails(
    refapp: ModuleType, tmp_path: Path, db: FakeDatabase, reason: str
) -> None:
    answer = call(make(refapp, tmp_path, db=db), "GET", "/healthz")
    assert answer.status == 503
    body = answer.json()
    assert body["status"] == "fail"
    assert body["reason"].startswith(reason), body
    assert body["checks"]["storage"] == "ok"


def test_healthz_is_503_when_the_storage_is_not_writable(
    refapp: ModuleType, tmp_path: Path
) -> None:
    app = make(refapp, tmp_path, PDIC_APP_STORAGE=str(tmp_path / "missing"))
    body = call(app, "GET", "/healthz").json()
    assert body["status"] == "fail"
    missing = tmp_path / "missing"
    assert body["reason"] == f"storage: {missing} is not writable (No such file or directory)"
    assert body["checks"]["database"] == "ok"


def test_the_primary_is_read_at_every_check(refapp: ModuleType, tmp_path: Path) -> None:
    db = FakeDatabase()
    app = make(refapp, tmp_path, db=db)
    call(app, "GET", "/healthz")
    (tmp_path / "db-primary").write_text("db-2.lab.pdic.internal\n")
    call(app, "GET", "/healthz")
    assert [c["host"] for c in db.calls] == ["db-1.lab.pdic.internal", "db-2.lab.pdic.internal"]
    (tmp_path / "db-primary").unlink()
    body = call(app, "GET", "/healthz").json()
    assert body["reason"].startswith(f"database: no primary named in {tmp_path / 'db-primary'}")


def test_without_a_database_only_the_storage_is_checked(refapp: ModuleType, tmp_path: Path) -> None:
    db = FakeDatabase()
    app = make(refapp, tmp_path, db=db, PDIC_APP_DB_NAME="")
    assert call(app, "GET", "/healthz").status == 200
    assert db.calls == []


def test_the_broken_release_always_fails_its_health_check(
    refapp: ModuleType, tmp_path: Path
) -> None:
    app = make(refapp, tmp_path, version="3", fault="healthz")
    answer = call(app, "GET", "/healthz")
    assert answer.status == 503
    assert answer.json()["reason"] == "release 3 is built broken on purpose (fault: healthz)"
    assert call(app, "GET", "/version").json() == {"app": "eoffice", "version": "3"}


def test_a_release_built_not_to_start_refuses_to(refapp: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="built not to start"):
        make(refapp, tmp_path, fault="start")


def test_version_and_index(refapp: ModuleType, tmp_path: Path) -> None:
    app = make(refapp, tmp_path, app="hcc", version="1", PDIC_APP_TITLE="Một cửa")
    assert call(app, "GET", "/version").json() == {"app": "hcc", "version": "1"}
    assert call(app, "GET", "/").json() == {"app": "hcc", "version": "1", "title": "Một cửa"}
    assert call(app, "GET", "/nothing").status == 404
    assert call(app, "POST", "/version").status == 405


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.split(" ")[0] == series:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in\n{text}")


def test_eoffice_documents_are_received_and_exchanged(refapp: ModuleType, tmp_path: Path) -> None:
    app = make(refapp, tmp_path, REFAPP_SECRET_KEY="k" * 32)
    sent = call(app, "POST", "/documents", b"Cong van so 1/UBND")
    assert sent.status == 201
    doc = sent.json()
    assert len(doc["id"]) == 32 and len(doc["receipt"]) == 64
    assert (tmp_path / "storage" / "documents" / doc["id"]).read_bytes() == b"Cong van so 1/UBND"
    got = call(app, "GET", f"/documents/{doc['id']}")
    assert got.status == 200 and got.body == b"Cong van so 1/UBND"
    assert call(app, "GET", f"/documents/{'0' * 32}").status == 404
    assert call(app, "POST", "/documents").status == 400
    assert call(app, "POST", "/files", b"x").status == 404  # not the one-stop shop
    metrics = call(app, "GET", "/metrics")
    assert metrics.status == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.body.decode()
    assert _value(text, "pdic_app_documents_received_total") == 1
    assert _value(text, "pdic_app_documents_exchanged_total") == 1
    ok = 'pdic_app_http_requests_total{code="201",method="POST",route="/documents"}'
    assert _value(text, ok) == 1
    missing = 'pdic_app_http_requests_total{code="404",method="GET",route="/documents/{id}"}'
    assert _value(text, missing) == 1
    assert "pdic_app_files_received_total" not in text


def test_one_stop_shop_files_are_received_and_processed(refapp: ModuleType, tmp_path: Path) -> None:
    app = make(refapp, tmp_path, app="hcc")
    ident = call(app, "POST", "/files", b"Ho so dang ky khai sinh").json()["id"]
    assert call(app, "GET", f"/files/{ident}").json() == {"id": ident, "state": "received"}
    assert call(app, "POST", f"/files/{ident}/process").json()["state"] == "processed"
    assert call(app, "POST", f"/files/{ident}/process").status == 409
    assert call(app, "GET", f"/files/{ident}").json()["state"] == "processed"
    assert call(app, "GET", f"/files/{ident}/process").status == 405
    text = call(app, "GET", "/metrics").body.decode()
    assert _value(text, "pdic_app_files_received_total") == 1
    assert _value(text, "pdic_app_files_processed_total") == 1
    assert "pdic_app_documents_received_total" not in text


def test_errors_are_500_counted_and_logged(refapp: ModuleType, tmp_path: Path) -> None:
    app = make(refapp, tmp_path)
    (tmp_path / "storage" / "documents").write_text("a file where a directory belongs")
    assert call(app, "POST", "/documents", b"x").status == 500
    text = call(app, "GET", "/metrics").body.decode()
    assert _value(text, 'pdic_app_http_errors_total{route="/documents"}') == 1


def test_metrics_are_not_served_through_the_proxy(refapp: ModuleType, tmp_path: Path) -> None:
    app = make(refapp, tmp_path)
    assert call(app, "GET", "/metrics", x_forwarded_for="203.0.113.9").status == 404
    assert call(app, "GET", "/metrics").status == 200


def _debian_python() -> None:
    probe = "import prometheus_client"
    ok = Path(DEBIAN_PYTHON).is_file() and (
        subprocess.run([DEBIAN_PYTHON, "-s", "-c", probe], capture_output=True).returncode == 0
    )
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{DEBIAN_PYTHON} lacks python3-prometheus-client (scripts/setup)")
        pytest.skip(f"{DEBIAN_PYTHON} lacks python3-prometheus-client")


DEBIAN_SCRIPT = """
import io, json, os, sys
sys.path.insert(0, sys.argv[1])
from pdic_refapp.app import create_app

class DB:
    def connect(self, **kw): return self
    def cursor(self): return self
    def execute(self, q): pass
    def fetchone(self): return ("eoffice",)
    def close(self): pass

def call(app, method, path, body=b""):
    seen = {}
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
           "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr}
    out = b"".join(app(env, lambda s, h: seen.update(status=s)))
    return seen["status"], out.decode()

env = dict(os.environ)
app = create_app(env, DB().connect)
results = {
    "healthz": call(app, "GET", "/healthz"),
    "document": call(app, "POST", "/documents", b"doc")[0],
    "metrics": call(app, "GET", "/metrics")[1],
}
print(json.dumps(results))
"""


@pytest.mark.parametrize("multiprocess", [False, True], ids=["one-process", "multiprocess"])
def test_debian_python_runs_the_application(tmp_path: Path, multiprocess: bool) -> None:
    _debian_python()
    storage = tmp_path / "storage"
    storage.mkdir()
    (tmp_path / "primary").write_text("db-1\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "PDIC_APP_STORAGE": str(storage),
        "PDIC_APP_DB_HOST_FILE": str(tmp_path / "primary"),
        "PDIC_APP_DB_NAME": "eoffice",
    }
    if multiprocess:
        (tmp_path / "metrics").mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    result = subprocess.run(
        [DEBIAN_PYTHON, "-s", "-c", DEBIAN_SCRIPT, str(REFAPP)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["healthz"][0].startswith("200"), out
    assert out["document"].startswith("201")
    assert _value(out["metrics"], "pdic_app_documents_received_total") == 1
