"""The inventory: one Ansible YAML directory that every part of pdic reads.

:func:`load_inventory` reads it into an :class:`Inventory` of :class:`Host` objects;
:func:`check_inventory` validates it against pdic's schema and returns one line per problem.
"""

from pdic.inventory.check import check_inventory, load_valid_inventory
from pdic.inventory.loader import VaultValue, load_inventory
from pdic.inventory.model import Host, Inventory

__all__ = [
    "Host",
    "Inventory",
    "VaultValue",
    "check_inventory",
    "load_inventory",
    "load_valid_inventory",
]
