"""expand_paths and the ParsedFiles cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdic.exporter.sources import ExporterError, ParsedFiles, expand_paths


def test_expand_paths(tmp_path: Path) -> None:
    for name in ("b.pem", "a.pem", "c.crt"):
        (tmp_path / name).write_text("x")
    a, b, c = (str(tmp_path / n) for n in ("a.pem", "b.pem", "c.crt"))
    missing = str(tmp_path / "missing.pem")
    assert expand_paths([str(tmp_path / "*.pem"), c, missing, b]) == {
        a: False,
        b: True,
        c: True,
        missing: True,
    }
    assert expand_paths([str(tmp_path / "none-*.pem")]) == {}


def test_parsed_files_reparse_only_on_change(tmp_path: Path) -> None:
    seen: list[bytes] = []

    def parse(data: bytes) -> int:
        seen.append(data)
        if data == b"bad":
            raise ValueError("bad content")
        return len(data)

    files = ParsedFiles(parse)
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert files.get(str(path)) == 3
    assert files.get(str(path)) == 3
    assert seen == [b"abc"]
    path.write_bytes(b"abcdef")
    assert files.get(str(path)) == 6
    path.write_bytes(b"bad")
    with pytest.raises(ExporterError, match=r"/f: bad content"):
        files.get(str(path))
    path.unlink()
    assert files.get(str(path), missing_ok=True) is None
    with pytest.raises(ExporterError, match="No such file"):
        files.get(str(path))
