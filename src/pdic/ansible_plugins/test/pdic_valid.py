"""Ansible test ``pdic_valid``: ``value is pdic_valid('slug')`` is true when pdic's inventory
rules accept ``value`` as that kind of value.

The roles' preflight checks their input with it, so a role and ``pdic inventory check`` never
hold two copies of one pattern: every kind is a validator of :mod:`pdic.inventory.values`
(:data:`~pdic.inventory.values.VALIDATORS`). pdic is imported from the source tree the plugin
sits in (``src/``), like pdic's filters.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_SRC = str(Path(__file__).resolve().parents[3])
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from pdic.inventory.values import VALIDATORS  # noqa: E402


def pdic_valid(value: Any, kind: str) -> bool:
    """True when ``value`` is a valid ``kind`` (a name of VALIDATORS)."""
    try:
        validator = VALIDATORS[kind]
    except KeyError:
        known = ", ".join(sorted(VALIDATORS))
        raise ValueError(f"pdic_valid: unknown kind {kind!r} (known: {known})") from None
    return validator(value) is None


class TestModule:
    def tests(self) -> dict[str, Any]:
        return {"pdic_valid": pdic_valid}
