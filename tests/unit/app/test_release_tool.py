"""pdic-app-release, the host-side tool of role app_service and `pdic app upgrade`, run on a
temporary root with a stand-in systemctl that records what it is asked.

Install checks the checksum and the archive's entries and unpacks side by side; a second
install changes nothing; switch moves ``current`` and ``previous`` and records the history,
restarting the unit (not with --no-restart); rollback goes back one step of the history;
health reads one /healthz; backup archives the storage and keeps the newest N.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pdic.app.build import archive_bytes

from .conftest import REPO

TOOL = REPO / "roles" / "app_service" / "files" / "usr" / "local" / "sbin" / "pdic-app-release"


class Tool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "systemctl.log"
        fake = root / "systemctl"
        fake.write_text(f'#!/bin/sh\necho "$@" >> {self.log}\n[ ! -e {root}/fail ]\n')
        fake.chmod(0o755)
        self.env = {
            **os.environ,
            "PDIC_APP_ROOT": str(root / "opt"),
            "PDIC_APP_STATE": str(root / "state"),
            "PDIC_APP_BACKUPS": str(root / "backups"),
            "PDIC_SYSTEMCTL": str(fake),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(TOOL), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def ok(self, *args: str) -> dict[str, Any]:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def fails(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 1, result.stdout
        assert result.stderr.startswith("pdic-app-release: ")
        return result.stderr

    def restarts(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    @property
    def base(self) -> Path:
        return self.root / "opt" / "eoffice"


def archive(tmp_path: Path, version: str, files: dict[str, bytes] | None = None) -> tuple[str, str]:
    content = files or {"wsgi.py": b"application = None\n", "pkg/app.py": version.encode()}
    path = tmp_path / f"eoffice-{version}.tar.gz"
    data = archive_bytes(content)
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest()


@pytest.fixture
def tool(tmp_path: Path) -> Tool:
    return Tool(tmp_path)


def test_install_unpacks_side_by_side_and_once(tool: Tool, tmp_path: Path) -> None:
    for version in ("1", "2"):
        path, sha = archive(tmp_path, version)
        assert tool.ok("install", "eoffice", version, path, sha)["changed"] is True
        assert tool.ok("install", "eoffice", version, path, sha)["changed"] is False
    release = tool.base / "releases" / "2"
    assert (release / "pkg" / "app.py").read_text() == "2"
    assert (tool.base / "releases" / "1" / "wsgi.py").is_file()
    assert oct((release / "wsgi.py").stat().st_mode & 0o777) == "0o644"
    assert oct((release / "pkg").stat().st_mode & 0o777) == "0o755"
    status = tool.ok("status", "eoffice")
    assert status["current"] is None and status["history"] == []
    assert set(status["releases"]) == {"1", "2"}
    assert tool.restarts() == []


def test_install_refuses_a_wrong_checksum_and_leaves_nothing(tool: Tool, tmp_path: Path) -> None:
    path, sha = archive(tmp_path, "1")
    message = tool.fails("install", "eoffice", "1", path, "0" * 64)
    assert f"sha256 {sha}, the inventory says {'0' * 64}: not installed" in message
    assert not (tool.base / "releases" / "1").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("../evil.py", "points outside the release"), ("/etc/evil", "points outside the release")],
)
def test_install_refuses_entries_outside_the_release(
    tool: Tool, tmp_path: Path, name: str, message: str
) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for entry in ("wsgi.py", name):
            info = tarfile.TarInfo(entry)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(raw.getvalue())
    sha = hashlib.sha256(raw.getvalue()).hexdigest()
    assert message in tool.fails("install", "eoffice", "1", str(path), sha)
    assert [p.name for p in (tool.base / "releases").iterdir()] == []


def test_install_refuses_an_archive_without_wsgi(tool: Tool, tmp_path: Path) -> None:
    path, sha = archive(tmp_path, "1", {"app.py": b"x"})
    assert "no wsgi.py at the top" in tool.fails("install", "eoffice", "1", path, sha)


def test_install_replaces_a_release_whose_archive_changed(tool: Tool, tmp_path: Path) -> None:
    path, sha = archive(tmp_path, "1")
    tool.ok("install", "eoffice", "1", path, sha)
    path, sha = archive(tmp_path, "1", {"wsgi.py": b"application = 1\n"})
    result = tool.ok("install", "eoffice", "1", path, sha)
    assert result["changed"] is True and result["replaced"] is True
    assert (tool.base / "releases" / "1" / "wsgi.py").read_text() == "application = 1\n"
    assert not (tool.base / "releases" / "1" / "pkg").exists()


def test_switch_and_rollback_move_the_links_and_restart(tool: Tool, tmp_path: Path) -> None:
    for version in ("1", "2", "3"):
        tool.ok("install", "eoffice", version, *archive(tmp_path, version))
    first = tool.ok("switch", "eoffice", "1", "--no-restart")
    assert (first["changed"], first["current"], first["previous"]) == (True, "1", None)
    assert tool.restarts() == []
    assert tool.ok("switch", "eoffice", "1")["changed"] is False
    second = tool.ok("switch", "eoffice", "2")
    assert (second["current"], second["previous"]) == ("2", "1")
    assert os.readlink(tool.base / "current") == "releases/2"
    assert os.readlink(tool.base / "previous") == "releases/1"
    tool.ok("switch", "eoffice", "3")
    assert tool.ok("status", "eoffice")["history"] == ["1", "2", "3"]
    back = tool.ok("rollback", "eoffice")
    assert (back["current"], back["previous"], back["rolled_back"]) == ("2", "1", "3")
    back = tool.ok("rollback", "eoffice")
    assert (back["current"], back["previous"]) == ("1", None)
    assert not (tool.base / "previous").exists()
    assert "no previous release" in tool.fails("rollback", "eoffice")
    assert tool.restarts() == ["restart pdic-app-eoffice.service"] * 4


def test_switch_needs_an_installed_release(tool: Tool) -> None:
    assert "release 9 of eoffice is not installed" in tool.fails("switch", "eoffice", "9")


def test_a_failed_restart_fails_the_switch(tool: Tool, tmp_path: Path) -> None:
    tool.ok("install", "eoffice", "1", *archive(tmp_path, "1"))
    (tool.root / "fail").touch()
    assert "systemctl restart pdic-app-eoffice.service" in tool.fails("switch", "eoffice", "1")


@pytest.mark.parametrize("args", [("status", "Eoffice"), ("switch", "eoffice", "../1")])
def test_names_are_checked(tool: Tool, args: tuple[str, ...]) -> None:
    assert "is not" in tool.fails(*args)


@pytest.fixture
def server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = 200 if self.path == "/healthz" else 503
            body = json.dumps({"status": "ok" if code == 200 else "fail"}).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def test_health_reads_one_answer(tool: Tool, server: int) -> None:
    ok = tool.ok("health", str(server))
    assert ok["status"] == 200 and json.loads(ok["body"]) == {"status": "ok"}
    failing = tool.ok("health", str(server), "--path", "/broken")
    assert failing["status"] == 503 and "fail" in failing["body"]


def test_health_of_a_port_nobody_listens_on_is_status_0(tool: Tool) -> None:
    result = tool.ok("health", "1", "--timeout", "2")
    assert result["status"] == 0 and result["body"]


def test_backup_archives_the_storage_and_keeps_the_newest(tool: Tool) -> None:
    storage = tool.root / "state" / "eoffice" / "storage" / "documents"
    storage.mkdir(parents=True)
    (storage / "abc").write_text("Cong van")
    dest = tool.root / "backups" / "eoffice"
    dest.mkdir(parents=True)
    for stamp in ("20240101T000000Z", "20240102T000000Z", "20240103T000000Z"):
        (dest / f"eoffice-storage-{stamp}.tar.gz").write_bytes(b"old")
    (dest / "notes.txt").write_text("kept: not an archive of this tool")
    result = tool.ok("backup", "eoffice", "--keep", "2")
    archive_path = Path(result["archive"])
    assert result["removed"] == [
        "eoffice-storage-20240101T000000Z.tar.gz",
        "eoffice-storage-20240102T000000Z.tar.gz",
    ]
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["eoffice-storage-20240103T000000Z.tar.gz", archive_path.name, "notes.txt"]
    )
    assert oct(archive_path.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive_path) as tar:
        handle = tar.extractfile("storage/documents/abc")
        assert handle is not None and handle.read() == b"Cong van"


def test_backup_without_storage_fails(tool: Tool) -> None:
    assert "no storage directory" in tool.fails("backup", "eoffice", "--keep", "3")
