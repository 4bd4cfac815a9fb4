"""A tiny apt repository for the lab's patch tests: two versions of ``pdic-patch-probe``.

:func:`build` makes, in a temporary directory and with ``dpkg-deb --build`` only (no
dpkg-dev), version 1 and 2 of an ``Architecture: all`` package that installs
``/usr/share/pdic-patch-probe/VERSION``; version 2's postinst asks for a reboot the way
Debian's update-notifier-common hook does (``/run/reboot-required`` and its name appended to
``/run/reboot-required.pkgs``). It writes a flat repository into a directory (the .debs,
``Packages``, ``Packages.gz`` and a ``Release`` generated here) and returns the apt source
line for it. :func:`serve` serves a directory over HTTP on a given address until stopped.

It does not add the source to any host: the lab tests do, with the line it returns.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdic.errors import LabError

PACKAGE = "pdic-patch-probe"
VERSIONS = ("1", "2")
MAINTAINER = "pdic lab <root@localhost>"
DESCRIPTION = "pdic lab probe for patch waves\n a file that says its version; 2 asks for a reboot"
POSTINST_REBOOT = """#!/bin/sh
set -e
if [ "$1" = configure ]; then
    touch /run/reboot-required
    echo pdic-patch-probe >> /run/reboot-required.pkgs
fi
"""


def _control(version: str) -> str:
    return (
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: {MAINTAINER}\nDescription: {DESCRIPTION}\n"
    )


def build_deb(version: str, out: Path) -> Path:
    """``pdic-patch-probe_<version>_all.deb`` in ``out``; LabError if dpkg-deb fails."""
    if shutil.which("dpkg-deb") is None:
        raise LabError("dpkg-deb is not installed (Debian's dpkg package)")
    with tempfile.TemporaryDirectory(prefix="pdic-probe-") as tmp:
        root = Path(tmp) / PACKAGE
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(_control(version))
        if version != VERSIONS[0]:
            postinst = root / "DEBIAN" / "postinst"
            postinst.write_text(POSTINST_REBOOT)
            postinst.chmod(0o755)
        share = root / "usr" / "share" / PACKAGE
        share.mkdir(parents=True)
        (share / "VERSION").write_text(f"{version}\n")
        for path in root.rglob("*"):
            path.chmod(0o755 if path.is_dir() or path.name == "postinst" else 0o644)
        deb = out / f"{PACKAGE}_{version}_all.deb"
        done = subprocess.run(
            ["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise LabError(f"dpkg-deb --build: {done.stderr.strip() or done.returncode}")
    return deb


def _digest(data: bytes, name: str) -> str:
    return hashlib.new(name, data).hexdigest()


def packages_index(debs: list[Path], versions: list[str]) -> str:
    """The ``Packages`` file of a flat repository holding ``debs`` (one stanza each)."""
    stanzas = []
    for deb, version in zip(debs, versions, strict=True):
        data = deb.read_bytes()
        stanzas.append(
            f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
            f"Maintainer: {MAINTAINER}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"SHA256: {_digest(data, 'sha256')}\nDescription: {DESCRIPTION}\n"
        )
    return "\n".join(stanzas)


def build(directory: Path, address: str, port: int, versions: tuple[str, ...] = VERSIONS) -> str:
    """The repository of ``versions`` written into ``directory``; its apt source line for a
    server at ``address:port``."""
    directory.mkdir(parents=True, exist_ok=True)
    debs = [build_deb(v, directory) for v in versions]
    packages = packages_index(debs, list(versions)).encode()
    (directory / "Packages").write_bytes(packages)
    (directory / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    sums = [
        f" {_digest((directory / n).read_bytes(), 'sha256')} {(directory / n).stat().st_size} {n}"
        for n in ("Packages", "Packages.gz")
    ]
    (directory / "Release").write_text(
        "Origin: pdic lab\nLabel: pdic lab\nSuite: lab\nCodename: lab\nArchitectures: all\n"
        "SHA256:\n" + "\n".join(sums) + "\n"
    )
    host = f"[{address}]" if ":" in address else address
    return f"deb [trusted=yes] http://{host}:{port}/ ./"


@dataclass
class Server:
    """A directory served over HTTP; :meth:`stop` ends it."""

    httpd: http.server.ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def serve(directory: Path, address: str, port: int = 0) -> Server:
    """``directory`` over HTTP on ``address:port`` (0: any free port) in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer((address, port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="pdic-lab-repo")
    thread.start()
    return Server(httpd, thread)


@contextlib.contextmanager
def served(directory: Path, address: str, port: int = 0) -> Iterator[Server]:
    """:func:`serve` for the block."""
    server = serve(directory, address, port)
    try:
        yield server
    finally:
        server.stop()


SOURCE = f"/etc/apt/sources.list.d/{PACKAGE}.list"
DIRECT = f"/etc/apt/apt.conf.d/99{PACKAGE}"
"""On a lab host: the repository's apt source, and apt told to reach it without the proxy."""


def install_first(host: Any, line: str, address: str) -> None:
    """On ``host`` (a testinfra host, root): the repository's source (``line``, served at
    ``address``), then version 1 installed, so that 2 is pending (also after a run that
    installed 2: it goes back)."""
    host.check_output("printf '%%s\\n' %s > %s", line, SOURCE)
    host.check_output("printf 'Acquire::http::Proxy::%s \"DIRECT\";\\n' > %s", address, DIRECT)
    host.check_output(
        "apt-get update -qq -o Dir::Etc::sourcelist=%s -o Dir::Etc::sourceparts=- "
        "-o APT::Get::List-Cleanup=0 && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -qq -y --allow-downgrades %s=%s",
        SOURCE,
        PACKAGE,
        VERSIONS[0],
    )


def forget(host: Any, *more: str) -> None:
    """The repository's source and apt setting (and the files ``more``) gone from ``host``."""
    host.run("rm -f" + " %s" * (2 + len(more)), SOURCE, DIRECT, *more)
