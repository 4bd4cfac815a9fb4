"""Secrets: what pdic secrets ensure keeps in the inventory's vault file."""

from __future__ import annotations

from typing import Any

from pdic.inventory.context import Context, Field, ListSpec
from pdic.inventory.values import variable_name


def secret_name(value: Any) -> str | None:
    """A variable name; a value of another type is the vault's business (not reported)."""
    return variable_name(value) if isinstance(value, str) else None


SECRETS = ListSpec(
    "pdic_secrets",
    {"name": Field(required=True, rule=secret_name, unique="secret"), "length": Field()},
)


def check(ctx: Context) -> None:
    key = SECRETS.key
    items, layer = ctx.check_list(SECRETS)
    if layer is None:
        return
    for i, item in items:
        length = item.get("length", 32)
        if isinstance(length, bool) or not isinstance(length, int) or not 16 <= length <= 256:
            ctx.at(layer, (key, i, "length"), f"{length!r} is not a whole number 16..256")
