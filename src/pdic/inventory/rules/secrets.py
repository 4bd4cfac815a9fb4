"""Secrets: what pdic secrets ensure keeps in the inventory's vault file."""

from __future__ import annotations

from typing import Any

from pdic.inventory.context import Context, Field, ListSpec
from pdic.inventory.values import one_of, variable_name

SECRET_FORMATS = ("alnum", "hex")
"""How ``pdic secrets ensure`` writes a secret: letters and digits, or hexadecimal digits."""


def secret_name(value: Any) -> str | None:
    """A variable name; a value of another type is the vault's business (not reported)."""
    return variable_name(value) if isinstance(value, str) else None


SECRETS = ListSpec(
    "pdic_secrets",
    {
        "name": Field(required=True, rule=secret_name, unique="secret"),
        "length": Field(),
        "format": Field(rule=one_of(*SECRET_FORMATS)),
    },
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
        elif item.get("format") == "hex" and length % 2:
            ctx.at(
                layer,
                (key, i, "length"),
                f"{length!r} is odd: a hex secret is whole bytes (two digits each)",
            )


def declared(ctx: Context) -> dict[str, dict[str, Any]]:
    """The declared secrets by name, each with its length and format (defaults filled in)."""
    out: dict[str, dict[str, Any]] = {}
    for item in ctx.raw_items(SECRETS.key):
        name = item.get("name")
        if isinstance(name, str):
            out.setdefault(
                name,
                {"length": item.get("length", 32), "format": item.get("format", "alnum")},
            )
    return out
