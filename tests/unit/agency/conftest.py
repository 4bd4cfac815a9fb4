"""What the agency tests share: a copy of inventory/lab to write into, its files' bytes, and a
new agency's file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventory" / "lab"
PROVINCE = Path("group_vars/all/province.yml")
SPEC = """\
id: so-chuyen-doi-so
name: "Sở Chuyển đổi số"
tier: province
parent: ubnd-tinh
mail:
  domain: socds.lab.pdic.internal
  host: mail-1
  mailboxes:
    - {local: vanthu, name: "Văn thư", quota: 2G}
    - {local: chanhvp, name: "Chánh văn phòng"}
site:
  name: socds
  hostname: socds.lab.pdic.internal
"""


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    """A copy of inventory/lab."""
    copy = tmp_path / "inv"
    shutil.copytree(LAB, copy)
    return copy


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path) with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def spec(tmp_path: Path, text: str = SPEC, name: str = "agency.yml") -> Path:
    """An agency file with ``text``."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_live_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pdic agency show` and `apply` read the hosts unless --offline: in a unit test the real
    transports are refused (a lab may be running on this machine); the tests that read live
    give fake ones (test_live.py)."""
    from pdic.agency import live

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a unit test asked for live reads without fake transports")

    monkeypatch.setattr(live, "readers", refuse)
