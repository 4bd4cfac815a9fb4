"""Inventory.select (--limit) and Inventory.host."""

from __future__ import annotations

import pytest

from pdic.errors import InventoryError
from pdic.inventory import Inventory, load_inventory

from .conftest import REPO

LAB = REPO / "inventory" / "lab"
ALL = ["portal-1", "eoffice-1", "hcc-1", "mail-1", "db-1", "db-2", "backup-1", "ca-1", "mon-1"]


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_inventory(LAB)


def names(inv: Inventory, limit: str | None) -> list[str]:
    return [host.name for host in inv.select(limit)]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (None, ALL),
        ("all", ALL),
        ("*", ALL),
        ("db", ["db-1", "db-2"]),
        ("db-2", ["db-2"]),
        ("mon-1,db", ["db-1", "db-2", "mon-1"]),
        ("mon-1:db", ["db-1", "db-2", "mon-1"]),
        (" pki , mail ", ["mail-1", "ca-1"]),
        ("db-*", ["db-1", "db-2"]),
        ("*-1", ["portal-1", "eoffice-1", "hcc-1", "mail-1", "db-1", "backup-1", "ca-1", "mon-1"]),
        ("p*", ["portal-1", "ca-1"]),
        ("db,!db-1", ["db-2"]),
        ("*-1,&db", ["db-1"]),
        ("!db", ["portal-1", "eoffice-1", "hcc-1", "mail-1", "backup-1", "ca-1", "mon-1"]),
    ],
)
def test_select(lab: Inventory, limit: str | None, expected: list[str]) -> None:
    assert names(lab, limit) == expected


@pytest.mark.parametrize("limit", ["dbx", "db,webservers", "db-9*", "db,!nothing"])
def test_unknown_term_raises(lab: Inventory, limit: str) -> None:
    bad = next(t.strip("!&") for t in limit.split(",") if t.strip("!&") not in ("db",))
    with pytest.raises(InventoryError) as err:
        lab.select(limit)
    assert str(err.value) == f"--limit: {bad!r} matches no host or group of {LAB}"


def test_selection_that_leaves_nothing_raises(lab: Inventory) -> None:
    with pytest.raises(InventoryError, match="leaves no host"):
        lab.select("db,!db")


def test_empty_limit_raises(lab: Inventory) -> None:
    with pytest.raises(InventoryError, match="names no host or group"):
        lab.select(" , ")


def test_host(lab: Inventory) -> None:
    assert lab.host("ca-1").address == "10.251.0.51"
    with pytest.raises(InventoryError, match=r"no host 'ca-2' in"):
        lab.host("ca-2")
