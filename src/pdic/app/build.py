"""`pdic app build`: the reference applications' versioned archives, reproducibly.

From the source under ``apps/refapp`` it builds, for each flavour (``eoffice``, ``hcc``),
versions 1 and 2 and a deliberately broken 3 (its ``/healthz`` always answers 503), as
``apps/dist/FLAVOUR-VERSION.tar.gz``. Each archive's top level is the release directory:
``wsgi.py``, the package ``pdic_refapp`` and ``RELEASE.json`` (flavour, version, fault).

Reproducible: the same source gives the same bytes anywhere, so the lab inventory can list the
archives' sha256 and a build on another machine still matches. Entries are sorted, owned by
0:0 (``root``), with modes 0755/0644 and one fixed modification time; the tar format is
ustar; the gzip header carries no file name and mtime 0. ``__pycache__`` and compiled files
are left out.

It builds only the reference applications; a real application's archive comes from its vendor,
with the checksum they publish.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdic import files
from pdic.app.model import AppError

FLAVOURS = ("eoffice", "hcc")
# Version -> fault: version 3 is the deliberately broken release.
VERSIONS: Mapping[str, str | None] = {"1": None, "2": None, "3": "healthz"}
# Every entry's modification time: 2024-01-01T00:00:00Z.
MTIME = 1704067200
SKIP_DIRS = ("__pycache__",)
SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Built:
    name: str
    version: str
    path: Path
    sha256: str


def release_manifest(flavour: str, version: str, fault: str | None) -> bytes:
    """RELEASE.json of one build."""
    data: dict[str, Any] = {"app": flavour, "version": version, "fault": fault}
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def source_files(source: Path) -> dict[str, bytes]:
    """Relative POSIX path -> content of every file of the source tree, compiled files out."""
    if not (source / "wsgi.py").is_file():
        raise AppError(f"{source}: no wsgi.py (an application's release needs one at its top)")
    files: dict[str, bytes] = {}
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in SKIP_SUFFIXES:
            files[rel.as_posix()] = path.read_bytes()
    return files


def archive_bytes(files: Mapping[str, bytes]) -> bytes:
    """A reproducible .tar.gz of ``files`` (path -> content), directories included."""
    directories = sorted(
        {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    )
    entries = sorted([(d, None) for d in directories] + [(p, files[p]) for p in files])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomically(path, data)


def build_reference(source: Path, out: Path) -> list[Built]:
    """Build every flavour and version of the reference application into ``out``."""
    files = source_files(source)
    built = []
    for flavour in FLAVOURS:
        for version, fault in VERSIONS.items():
            data = archive_bytes(
                {**files, "RELEASE.json": release_manifest(flavour, version, fault)}
            )
            path = out / f"{flavour}-{version}.tar.gz"
            write_atomically(path, data)
            built.append(Built(flavour, version, path, hashlib.sha256(data).hexdigest()))
    return built


def missing_reference_artifacts(applications: Any, root: Path) -> list[Path]:
    """Artifacts the inventory lists under ``root/apps/dist`` (the reference builds' place)
    that are not there yet."""
    dist = (root / "apps" / "dist").resolve()
    missing = []
    for app in applications if isinstance(applications, list) else []:
        artifacts = app.get("artifacts") if isinstance(app, Mapping) else None
        for artifact in artifacts if isinstance(artifacts, list) else []:
            source = artifact.get("source") if isinstance(artifact, Mapping) else None
            if not isinstance(source, str) or "://" in source:
                continue
            path = (root / source).resolve()
            if path.is_relative_to(dist) and not path.exists():
                missing.append(path)
    return missing


def ensure_reference_builds(applications: Any, root: Path) -> list[Built]:
    """Build the reference applications when the inventory wants archives of theirs that are
    missing (a fresh clone): `pdic deploy` of the lab then needs no separate `pdic app build`.
    A vendor's archive elsewhere is never built, only checked by the role."""
    if not missing_reference_artifacts(applications, root):
        return []
    return build_reference(root / "apps" / "refapp", root / "apps" / "dist")
