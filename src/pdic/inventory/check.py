"""Validate an inventory against pdic's schema (placeholder until the rules land)."""

from __future__ import annotations

from pathlib import Path

from pdic.errors import InventoryError
from pdic.inventory.loader import read_inventory


def check_inventory(path: Path | str) -> list[str]:
    """One line per problem (``file: key.path: what is wrong``); empty if the inventory is valid."""
    try:
        source = read_inventory(path)
    except InventoryError as exc:
        return exc.problems
    return [str(p) for p in sorted(source.notes, key=lambda p: p.sort_key)]
