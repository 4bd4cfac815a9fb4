"""What pdic's lookups share: each term is an inventory directory, loaded and checked with
pdic's loader, then turned into one value; a bad inventory stops the lookup with its problems.

Imported by the lookups once they have put pdic's source tree on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ansible.errors import AnsibleLookupError

from pdic.errors import PdicError
from pdic.inventory import Inventory, load_valid_inventory

T = TypeVar("T")


def per_inventory(name: str, terms: list[Any], make: Callable[[Inventory], T]) -> list[T]:
    """``make`` of every inventory directory in ``terms``; AnsibleLookupError names the lookup."""
    results = []
    for term in terms:
        try:
            results.append(make(load_valid_inventory(str(term))))
        except PdicError as exc:
            raise AnsibleLookupError(f"{name}: {term}: {exc}") from None
    return results
