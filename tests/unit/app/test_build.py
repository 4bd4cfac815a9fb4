"""`pdic app build`: the reference archives are reproducible and the inventories list their
checksums.

Two builds give the same bytes; every entry has the fixed owner, modes and time, in sorted
order; the gzip header has no name and mtime 0; compiled files never get in; version 3 is the
broken one; each artifact of the lab and Thái Bình inventories that names apps/dist/ has the
sha256 of what the build writes (change the application, then update those checksums).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from pdic.app.build import MTIME, build_reference
from pdic.app.model import AppError, applications
from pdic.cli import main
from pdic.inventory import load_inventory

from .conftest import REFAPP, REPO


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("dist")
    return {b.path.name: b.path.read_bytes() for b in build_reference(REFAPP, out)}


def test_every_flavour_and_version_is_built(built: dict[str, bytes]) -> None:
    assert sorted(built) == [f"{a}-{v}.tar.gz" for a in ("eoffice", "hcc") for v in "123"]


def test_two_builds_give_the_same_bytes(built: dict[str, bytes], tmp_path: Path) -> None:
    again = {b.path.name: b.path.read_bytes() for b in build_reference(REFAPP, tmp_path)}
    assert again == built


def test_entries_are_sorted_with_fixed_owner_modes_and_time(built: dict[str, bytes]) -> None:
    data = built["eoffice-1.tar.gz"]
    assert data[3] & 0x08 == 0, "the gzip header names a file"
    assert data[4:8] == b"\0\0\0\0", "the gzip header carries a time"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert {"wsgi.py", "RELEASE.json", "pdic_refapp", "pdic_refapp/app.py"} <= set(names)
        for member in members:
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "root", "root")
            assert member.mtime == MTIME
            assert member.mode == (0o755 if member.isdir() else 0o644), member.name
            assert member.isdir() or member.isfile(), member.name


@pytest.mark.parametrize(("version", "fault"), [("1", None), ("2", None), ("3", "healthz")])
def test_the_release_file_says_flavour_version_and_fault(
    built: dict[str, bytes], version: str, fault: str | None
) -> None:
    with tarfile.open(fileobj=io.BytesIO(built[f"hcc-{version}.tar.gz"]), mode="r:gz") as tar:
        handle = tar.extractfile("RELEASE.json")
        assert handle is not None
        release = json.loads(handle.read())
    assert release == {"app": "hcc", "version": version, "fault": fault}


def test_compiled_files_and_caches_stay_out(built: dict[str, bytes], tmp_path: Path) -> None:
    source = tmp_path / "refapp"
    shutil.copytree(REFAPP, source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "pdic_refapp" / "__pycache__").mkdir()
    (source / "pdic_refapp" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    (source / "stray.pyc").write_bytes(b"x")
    again = {b.path.name: b.path.read_bytes() for b in build_reference(source, tmp_path / "out")}
    assert again == built


def test_a_source_without_wsgi_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AppError, match=r"no wsgi\.py"):
        build_reference(tmp_path, tmp_path / "out")


@pytest.mark.parametrize("env", ["lab", "thaibinh"])
def test_inventory_checksums_are_those_of_the_build(built: dict[str, bytes], env: str) -> None:
    checked = 0
    for app in applications(load_inventory(REPO / "inventory" / env)):
        for artifact in app.artifacts:
            if not artifact.source.startswith("apps/dist/"):
                continue
            name = artifact.source.removeprefix("apps/dist/")
            actual = hashlib.sha256(built[name]).hexdigest()
            assert artifact.sha256 == actual, (
                f"inventory/{env}: {app.name} {artifact.version}: sha256 {artifact.sha256} but "
                f"`pdic app build` gives {actual}: update the inventory"
            )
            checked += 1
    assert checked >= 4


def test_the_command_prints_each_archive_and_checksum(
    built: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["app", "build", "-o", str(tmp_path)]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 6
    for name, version, sha256, path in lines:
        assert Path(path) == tmp_path / f"{name}-{version}.tar.gz"
        assert sha256 == hashlib.sha256(built[Path(path).name]).hexdigest()
    with gzip.open(tmp_path / "eoffice-2.tar.gz") as fh:
        assert fh.read(5)  # a readable archive


def test_deploy_builds_the_reference_archives_a_fresh_clone_lacks(tmp_path: Path) -> None:
    from pdic.app.build import ensure_reference_builds, missing_reference_artifacts

    shutil.copytree(REFAPP, tmp_path / "apps" / "refapp")
    wanted = load_inventory(REPO / "inventory" / "lab").vars["pdic_applications"]
    vendor = {"name": "vendor", "artifacts": [{"source": "/srv/vendor/app-1.tar.gz"}]}
    missing = missing_reference_artifacts([*wanted, vendor], tmp_path)
    assert tmp_path / "apps" / "dist" / "eoffice-2.tar.gz" in missing
    assert all(p.is_relative_to(tmp_path / "apps" / "dist") for p in missing)  # never the vendor's
    built = ensure_reference_builds(wanted, tmp_path)
    assert {b.path for b in built} >= set(missing)
    assert missing_reference_artifacts(wanted, tmp_path) == []
    assert ensure_reference_builds(wanted, tmp_path) == []  # nothing missing: nothing built
