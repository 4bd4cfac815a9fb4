"""Administrators: the people who log in to the centre's hosts over SSH with their own key and a
TOTP code (role ssh_hardening), and whose TOTP keys ``pdic secrets ensure`` keeps in the vault."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdic.inventory.context import Context, Field, ListSpec
from pdic.inventory.rules.secrets import declared
from pdic.inventory.values import (
    absolute_path,
    ssh_public_key,
    text,
    unix_user,
    variable_name,
)
from pdic.totp import MAX_KEY_BYTES, MIN_KEY_BYTES

ADMINS = ListSpec(
    "pdic_admins",
    {
        "name": Field(required=True, rule=unix_user, unique="administrator"),
        "full_name": Field(rule=text),
        "authorized_keys": Field(),
        "authorized_key_files": Field(),
        "totp_secret": Field(required=True, rule=variable_name),
    },
)
KEY_LISTS = {"authorized_keys": ssh_public_key, "authorized_key_files": absolute_path}


def check(ctx: Context) -> None:
    key = ADMINS.key
    everywhere = {id(x) for x in ctx.source.all_layers}
    for other in ctx.layers_with(key):
        if id(other) not in everywhere:
            ctx.at(
                other,
                (key,),
                "the administrators are listed once for the whole centre (group_vars/all), "
                "not in the variables of a group or host",
            )
    items, layer = ctx.check_list(ADMINS)
    if layer is None:
        return
    ops = ctx.var("pdic_ops_user")
    ops_user = ops[0] if ops is not None else None
    secrets = declared(ctx)
    for i, item in items:
        if item.get("name") is not None and item.get("name") == ops_user:
            ctx.at(
                layer,
                (key, i, "name"),
                f"{ops_user!r} is the operations account (pdic_ops_user), which logs in with a key "
                "only: an administrator is a person with an account of their own",
            )
        keys = 0
        for field, rule in KEY_LISTS.items():
            keys += _key_list(ctx, layer, (key, i, field), item.get(field), rule)
        if keys == 0:
            ctx.at(
                layer,
                (key, i),
                "no SSH key: give authorized_keys (public keys) or authorized_key_files (files of "
                "public keys on the controller)",
            )
        _totp_secret(ctx, layer, (key, i, "totp_secret"), item.get("totp_secret"), secrets)


def _key_list(ctx: Context, layer: Any, at: tuple[str | int, ...], value: Any, rule: Any) -> int:
    """Checks one list of keys or key files; returns how many entries it holds."""
    if value is None:
        return 0
    if not isinstance(value, list):
        ctx.at(layer, at, "must be a list")
        return 0
    for j, entry in enumerate(value):
        problem = rule(entry)
        if problem:
            ctx.at(layer, (*at, j), problem)
    return len(value)


def _totp_secret(
    ctx: Context,
    layer: Any,
    at: tuple[str | int, ...],
    name: Any,
    secrets: Mapping[str, Mapping[str, Any]],
) -> None:
    """The TOTP key is a secret of pdic_secrets that pam_oath can read: hex, 16..32 bytes."""
    if not isinstance(name, str) or variable_name(name) is not None:
        return
    found = secrets.get(name)
    if found is None:
        where = "no pdic_secrets" if ctx.var("pdic_secrets") is None else "not in pdic_secrets"
        ctx.at(
            layer,
            at,
            f"unknown secret {name!r} ({where}: declare it with format: hex, length 40, so that "
            "`pdic secrets ensure` creates it)",
        )
    elif found["format"] != "hex":
        ctx.at(
            layer,
            at,
            f"secret {name!r} is declared without format: hex (pam_oath reads the TOTP key in "
            "hexadecimal)",
        )
    elif not (
        isinstance(found["length"], int)
        and 2 * MIN_KEY_BYTES <= found["length"] <= 2 * MAX_KEY_BYTES
    ):
        ctx.at(
            layer,
            at,
            f"secret {name!r} has length {found['length']!r}: a TOTP key is "
            f"{2 * MIN_KEY_BYTES}..{2 * MAX_KEY_BYTES} hex digits "
            f"({MIN_KEY_BYTES}..{MAX_KEY_BYTES} bytes, what pam_oath reads; 40 is usual)",
        )
