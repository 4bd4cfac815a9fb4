"""The lab's probe repository: two .debs built with dpkg-deb, a flat index, served over HTTP."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from pdic.lab_repo import PACKAGE, build, served

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="no dpkg-deb")


def stanzas(text: str) -> list[dict[str, str]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if not line.startswith(" "):
                key, _, value = line.partition(": ")
                fields[key] = value
        out.append(fields)
    return out


def test_the_repository_indexes_both_versions(tmp_path: Path) -> None:
    line = build(tmp_path, "10.251.0.1", 8089)
    assert line == "deb [trusted=yes] http://10.251.0.1:8089/ ./"
    packages = (tmp_path / "Packages").read_text()
    assert gzip.decompress((tmp_path / "Packages.gz").read_bytes()).decode() == packages
    found = stanzas(packages)
    assert [(s["Package"], s["Version"], s["Architecture"]) for s in found] == [
        (PACKAGE, "1", "all"),
        (PACKAGE, "2", "all"),
    ]
    for s in found:
        deb = tmp_path / s["Filename"]
        data = deb.read_bytes()
        assert int(s["Size"]) == len(data)
        assert s["SHA256"] == hashlib.sha256(data).hexdigest()
        assert s["Maintainer"] and s["Description"]
        info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True)
        assert f"Version: {s['Version']}" in info.stdout
        assert ("postinst" in info.stdout) == (s["Version"] == "2")
        files = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True)
        assert f"./usr/share/{PACKAGE}/VERSION" in files.stdout
    postinst = subprocess.run(
        ["dpkg-deb", "-I", str(tmp_path / f"{PACKAGE}_2_all.deb"), "postinst"],
        capture_output=True,
        text=True,
    ).stdout
    assert "/run/reboot-required" in postinst and "reboot-required.pkgs" in postinst


def test_the_directory_is_served_until_stopped(tmp_path: Path) -> None:
    build(tmp_path, "127.0.0.1", 0)
    with served(tmp_path, "127.0.0.1") as server:
        url = f"http://127.0.0.1:{server.port}/Packages"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.read() == (tmp_path / "Packages").read_bytes()
