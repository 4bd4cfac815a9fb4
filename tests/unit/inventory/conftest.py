"""Helpers for the inventory tests: the repository's paths and small inventories on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "tests" / "inventory_corpus"

WriteInventory = Callable[[dict[str, str]], Path]


@pytest.fixture
def write_inventory(tmp_path: Path) -> WriteInventory:
    """Write ``{relative path: YAML text}`` under a fresh directory and return it."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "inventory"
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return write
