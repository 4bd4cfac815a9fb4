"""The lab carries every component portal of the reference inventory, renamed into its domain."""

from __future__ import annotations

from pdic.inventory import load_inventory

from .conftest import REPO


def test_lab_portal_sites_are_the_reference_sites_in_the_lab_domain() -> None:
    lab = load_inventory(REPO / "inventory" / "lab").vars
    reference = load_inventory(REPO / "inventory" / "thaibinh").vars
    renamed = [
        {
            **site,
            "hostname": site["hostname"].replace(
                f".{reference['pdic_domain']}", f".{lab['pdic_domain']}"
            ),
        }
        for site in reference["portal_sites"]
    ]
    assert lab["portal_sites"] == renamed
    assert len(renamed) == 27
