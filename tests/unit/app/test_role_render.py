"""Role app_service's files and the application hosts' nginx sites, rendered from the lab
inventory as playbooks/apps.yml configures the roles, say what the design asks.

``playbooks/render.yml`` renders them on the controller with the roles' defaults, vars,
preflight and templates and the role variables apps.yml passes (read from apps.yml itself);
secrets are test values, the artifacts a fresh ``pdic app build``, certificates throw-away
ones. nginx -t then checks the site file in a copy of Debian's configuration (skipped without
nginx, an error under CI; see tests/unit/web). The preflight's refusals are checked too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from web.test_nginx_render import _self_signed, nginx_check
from web.test_nginx_render import render as web_render

from pdic.app.build import build_reference
from pdic.app.upgrade import mark_down

from .conftest import REFAPP, REPO

PLAYBOOK = Path(__file__).parent / "playbooks" / "render.yml"
LAB = REPO / "inventory" / "lab"
APPS = yaml.safe_load((LAB / "group_vars" / "all" / "applications.yml").read_text())[
    "pdic_applications"
]
SECRETS = {
    "vault_postgresql_password_eoffice_app": "E" * 32,
    "vault_postgresql_password_hcc_app": "H" * 32,
    "vault_app_secret_key_eoffice": "k" * 48,
    "vault_app_secret_key_hcc": "q" * 48,
}


def apps_role_vars() -> dict[str, Any]:
    """The variables playbooks/apps.yml gives roles app_service and nginx (play and role vars)."""
    plays = yaml.safe_load((REPO / "playbooks" / "apps.yml").read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for play in plays:
        out.update(play.get("vars", {}))
        for role in play.get("roles", []):
            out.update(role.get("vars", {}))
    return out


def render(out: Path, tls: Path, base: Path, **overrides: Any) -> subprocess.CompletedProcess[str]:
    """The render playbook on the lab inventory, as tests/unit/web renders portal-1's sites."""
    return web_render(
        LAB,
        out,
        tls,
        playbook=PLAYBOOK,
        role_vars={**apps_role_vars(), **SECRETS},
        pki_cert_dir=str(tls),
        app_service_artifact_base=str(base),
        **overrides,
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory whose apps/dist holds a fresh build (the inventory's checksums)."""
    root = tmp_path_factory.mktemp("project")
    build_reference(REFAPP, root / "apps" / "dist")
    return root


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    _self_signed(directory, [f"site-{a['name']}" for a in APPS] + ["host"])
    return directory


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, tls: Path, base: Path) -> Path:
    out = tmp_path_factory.mktemp("render")
    (out / "log").mkdir()
    result = render(out, tls, base)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out


def _env(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = json.loads(value)  # double-quoted, backslash escapes: JSON's subset
    return pairs


def test_the_settings_file_holds_the_database_and_the_secrets(rendered: Path) -> None:
    env = _env(rendered / "eoffice-1-eoffice.env")
    assert env == {
        "PDIC_APP_NAME": "eoffice",
        "PDIC_APP_TITLE": "Văn phòng điện tử (lab)",
        "PDIC_APP_STORAGE": "/var/lib/pdic-apps/eoffice/storage",
        "PDIC_APP_DB_HOST_FILE": "/etc/pdic/db-primary",
        "PDIC_APP_DB_PORT": "5432",
        "PDIC_APP_DB_NAME": "eoffice",
        "PDIC_APP_DB_USER": "eoffice_app",
        "PDIC_APP_DB_PASSWORD": "E" * 32,
        "PDIC_APP_DB_SSLMODE": "verify-full",
        "PDIC_APP_DB_SSLROOTCERT": "/usr/local/share/ca-certificates/pdic/pdic-lab-root.crt",
        "TZ": "Asia/Ho_Chi_Minh",
        "REFAPP_SECRET_KEY": "k" * 48,
    }
    assert _env(rendered / "hcc-1-hcc.env")["PDIC_APP_DB_PASSWORD"] == "H" * 32
    assert not (rendered / "eoffice-1-hcc.env").exists()


def _directives(path: Path) -> dict[str, list[str]]:
    text = path.read_text().replace("\\\n", " ")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(" ".join(value.split()))
    return out


def test_the_unit_is_sandboxed_and_writes_its_storage_only(rendered: Path) -> None:
    unit = _directives(rendered / "eoffice-1-eoffice-pdic-app.service")
    for key, value in {
        "User": "pdicapp-eoffice",
        "Group": "pdicapp-eoffice",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "ReadWritePaths": "/var/lib/pdic-apps/eoffice/storage",
        "EnvironmentFile": "/etc/pdic-apps/eoffice/env",
        "RuntimeDirectory": "pdic-app-eoffice",
        "WorkingDirectory": "/opt/pdic-apps/eoffice/current",
    }.items():
        assert unit.get(key) == [value], (key, unit.get(key))
    (start,) = unit["ExecStart"]
    assert start.startswith("/usr/bin/gunicorn --bind 0.0.0.0:8001 ")
    assert "--chdir /opt/pdic-apps/eoffice/current" in start
    assert start.endswith(" wsgi:application")
    assert unit["Environment"] == [
        "PROMETHEUS_MULTIPROC_DIR=/run/pdic-app-eoffice PYTHONDONTWRITEBYTECODE=1"
    ]


def test_the_backup_hook_and_its_timer(rendered: Path) -> None:
    service = _directives(rendered / "hcc-1-hcc-pdic-app-backup.service")
    assert service["ExecStart"] == ["/usr/local/sbin/pdic-app-release backup hcc --keep 7"]
    assert service["ReadWritePaths"] == ["/var/backups/pdic-apps/hcc"]
    timer = _directives(rendered / "hcc-1-hcc-pdic-app-backup.timer")
    assert timer["OnCalendar"] == ["*-*-* 01:30"]
    assert timer["Unit"] == ["pdic-app-backup-hcc.service"]


def _servers(text: str) -> list[str]:
    return re.findall(r"(?ms)^server \{\n.*?^\}\n", text)


def test_nginx_serves_each_application_and_the_host_name(rendered: Path, tmp_path: Path) -> None:
    text = (rendered / "eoffice-1-nginx.conf").read_text()
    assert "upstream pdic_site_eoffice {\n    server 10.251.0.12:8001;\n" in text
    https = [s for s in _servers(text) if "443 ssl" in s and "default_server" not in s]
    names = sorted(re.search(r"server_name (\S+);", s).group(1) for s in https)  # type: ignore[union-attr]
    assert names == ["eoffice-1.lab.pdic.internal", "eoffice.lab.pdic.internal"]
    (app,) = [s for s in https if "server_name eoffice.lab.pdic.internal;" in s]
    assert "proxy_pass http://pdic_site_eoffice;" in app
    assert "/site-eoffice.fullchain.pem;" in app
    (host,) = [s for s in https if "server_name eoffice-1.lab.pdic.internal;" in s]
    assert "/host.fullchain.pem;" in host and "proxy_pass http://pdic_site_eoffice-host;" in host
    assert "upstream pdic_site_eoffice-host {\n    server 127.0.0.1:8001;\n" in text
    assert "motcua" not in text
    check = nginx_check(rendered / "eoffice-1-nginx.conf", tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_upgrade_can_take_the_server_out_of_the_rendered_upstream(
    rendered: Path, tmp_path: Path
) -> None:
    """What `pdic app upgrade` writes: the role's upstream with the host's server down, which
    nginx -t accepts, also when it is the only server."""
    text = (rendered / "eoffice-1-nginx.conf").read_text()
    out = mark_down(text, "pdic_site_eoffice", {"10.251.0.12:8001"})
    assert out == text.replace("server 10.251.0.12:8001;", "server 10.251.0.12:8001 down;")
    assert "server 127.0.0.1:8001;" in out  # the host's own name still reaches its server
    candidate = tmp_path / "candidate.conf"
    candidate.write_text(out)
    check = nginx_check(candidate, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert mark_down(out, "pdic_site_eoffice", set()) == text


def test_a_missing_artifact_stops_in_preflight(tls: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = render(out, tls, tmp_path)
    assert result.returncode != 0
    assert f"{tmp_path}/apps/dist/eoffice-1.tar.gz does not exist" in result.stdout
    assert "pdic app build" in result.stdout


def test_an_artifact_with_another_checksum_stops_in_preflight(tls: Path, tmp_path: Path) -> None:
    dist = tmp_path / "apps" / "dist"
    dist.mkdir(parents=True)
    for app in APPS:
        (dist / f"{app['name']}-1.tar.gz").write_bytes(b"not the release")
    out = tmp_path / "out"
    out.mkdir()
    result = render(out, tls, tmp_path)
    assert result.returncode != 0
    assert "eoffice 1: " in result.stdout and ", the inventory says " in result.stdout


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("vault_postgresql_password_eoffice_app", "_eoffice_app or one of"),
        ("vault_app_secret_key_eoffice", "['vault_app_secret_key_eoffice'] is not set"),
    ],
)
def test_a_missing_secret_stops_in_preflight(
    tls: Path, base: Path, tmp_path: Path, secret: str, message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = render(out, tls, base, **{secret: ""})
    assert result.returncode != 0
    assert message in result.stdout
    assert "E" * 32 not in result.stdout and "k" * 48 not in result.stdout


def _gunicorn() -> Path:
    """Debian's gunicorn script: PDIC_GUNICORN_ROOT, the system's, or scripts/setup's copy."""
    candidates = [os.environ.get("PDIC_GUNICORN_ROOT", ""), "/", str(REPO / ".venv" / "gunicorn")]
    for root in filter(None, candidates):
        script = Path(root) / "usr" / "bin" / "gunicorn"
        if script.is_file() and (Path(root) / "usr/lib/python3/dist-packages/gunicorn").is_dir():
            return Path(root)
    if os.environ.get("CI"):
        pytest.fail("Debian's gunicorn is not available (scripts/setup unpacks it): required in CI")
    pytest.skip("Debian's gunicorn is not available")


def _get(port: int, path: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_unit_runs_the_release_under_debian_gunicorn(
    rendered: Path, base: Path, tmp_path: Path
) -> None:
    """The unit's command line, with its paths moved under a temporary root, serves the release
    pdic-app-release unpacked, with Debian's python3 and gunicorn 20.1."""
    import shlex
    import socket
    import time

    root = _gunicorn()
    tool = REPO / "roles/app_service/files/usr/local/sbin/pdic-app-release"
    opt, state = tmp_path / "opt", tmp_path / "state"
    env = {**os.environ, "PDIC_APP_ROOT": str(opt), "PDIC_SYSTEMCTL": "/bin/true"}
    archive = base / "apps" / "dist" / "eoffice-1.tar.gz"
    sha = next(a["sha256"] for a in APPS[0]["artifacts"] if a["version"] == "1")
    for args in (["install", "eoffice", "1", str(archive), sha], ["switch", "eoffice", "1"]):
        subprocess.run([sys.executable, str(tool), *args], env=env, check=True, timeout=60)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (start,) = _directives(rendered / "eoffice-1-eoffice-pdic-app.service")["ExecStart"]
    start = start.replace("/opt/pdic-apps", str(opt)).replace("0.0.0.0:8001", f"127.0.0.1:{port}")
    argv = shlex.split(start)
    assert argv[0] == "/usr/bin/gunicorn"
    settings = _env(rendered / "eoffice-1-eoffice.env")
    (state / "storage").mkdir(parents=True)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "db-primary").write_text("db-1.lab.pdic.internal\n")
    settings.update(
        PDIC_APP_STORAGE=str(state / "storage"),
        PDIC_APP_DB_HOST_FILE=str(tmp_path / "db-primary"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=str(root / "usr/lib/python3/dist-packages"),
        PATH="/usr/bin:/bin",
    )
    server = subprocess.Popen(
        ["/usr/bin/python3", str(root / "usr/bin/gunicorn"), *argv[1:]],
        env=settings,
        cwd=opt / "eoffice" / "current",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _get(port, "/version")
                break
            except OSError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.2)
        assert (status, json.loads(body)) == (200, {"app": "eoffice", "version": "1"})
        # No PostgreSQL here (nor psycopg2 on this machine): the health check says so.
        status, body = _get(port, "/healthz")
        health = json.loads(body)
        assert status == 503 and health["checks"]["storage"] == "ok", health
        assert health["reason"].startswith("database: cannot connect to eoffice on db-1."), health
        status, text = _get(port, "/metrics")
        assert status == 200 and 'route="/healthz"' in text
    finally:
        server.terminate()
        server.communicate(timeout=30)
