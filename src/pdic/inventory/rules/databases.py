"""Databases and backups: PostgreSQL's roles and databases, pgBackRest's retention."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdic.inventory.context import Context, Field, Items, ListSpec
from pdic.inventory.loader import Layer
from pdic.inventory.values import sql_identifier, templated, text

RESERVED_DATABASES = ("postgres", "template0", "template1")
RETENTION_KEYS = ("pgbackrest_retention_full", "pgbackrest_retention_diff")
ROLES = ListSpec(
    "postgresql_roles",
    {
        "name": Field(required=True, rule=sql_identifier, unique="role"),
        "groups": Field(),
        "databases": Field(),
        "description": Field(rule=text),
    },
)
DATABASES = ListSpec(
    "postgresql_databases",
    {
        "name": Field(required=True, rule=sql_identifier, unique="database"),
        "owner": Field(required=True, references=(ROLES.key, "name")),
        "description": Field(rule=text),
    },
)


def check(ctx: Context) -> None:
    check_postgresql(ctx)
    check_backups(ctx)


def check_postgresql(ctx: Context) -> None:
    key = ROLES.key
    items, layer = ctx.check_list(ROLES)
    role_items, role_layer = items, layer
    if layer is not None:
        for i, item in items:
            name = item.get("name")
            if isinstance(name, str) and (name == "postgres" or name.startswith("pg_")):
                ctx.at(layer, (key, i, "name"), f"{name!r} is reserved by PostgreSQL")
            check_role_groups(ctx, layer, key, i, item.get("groups", []))

    key = DATABASES.key
    items, layer = ctx.check_list(DATABASES)
    databases = ctx.known(key, "name")
    owners: set[Any] = set()
    if layer is not None:
        for i, item in items:
            if item.get("name") in RESERVED_DATABASES:
                ctx.at(layer, (key, i, "name"), f"{item['name']!r} is reserved by PostgreSQL")
        owners = {item.get("owner") for _, item in items}
    if role_layer is not None:
        check_role_databases(ctx, role_layer, role_items, databases, owners)


def check_role_databases(
    ctx: Context,
    layer: Layer,
    items: Items,
    databases: Mapping[str, int],
    owners: set[Any],
) -> None:
    """A role's databases are declared; a role nobody connects as must own a database."""
    key = "postgresql_roles"
    for i, item in items:
        granted = item.get("databases", [])
        if not isinstance(granted, list):
            ctx.at(layer, (key, i, "databases"), "must be a list of databases")
            granted = []
        for j, name in enumerate(granted):
            if name not in databases:
                ctx.at(
                    layer,
                    (key, i, "databases", j),
                    f"unknown database {name!r} (not in postgresql_databases)",
                )
        groups = item.get("groups")
        if item.get("name") not in owners and isinstance(groups, list | None) and not groups:
            ctx.at(
                layer,
                (key, i, "groups") if "groups" in item else (key, i),
                f"role {item.get('name')!r} owns no database and no host group may connect "
                "as it: list the groups whose hosts use it",
            )


def check_role_groups(ctx: Context, layer: Layer, key: str, i: int, groups: Any) -> None:
    if not isinstance(groups, list):
        ctx.at(layer, (key, i, "groups"), "must be a list of inventory groups")
        return
    for j, group in enumerate(groups):
        if group not in ctx.inventory.groups:
            ctx.at(
                layer,
                (key, i, "groups", j),
                f"unknown group {group!r} (not in {ctx.source.hosts_file})",
            )


def check_backups(ctx: Context) -> None:
    for key in RETENTION_KEYS:
        for layer in ctx.layers_with(key):
            value = layer.data[key]
            if templated(value):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                ctx.at(
                    layer,
                    (key,),
                    f"{value!r} is not a whole number >= 1 (backups kept; 0 would keep none)",
                )
    for layer in ctx.layers_with("postgresql_allow_restart"):
        value = layer.data["postgresql_allow_restart"]
        if not isinstance(value, bool) and not templated(value):
            ctx.at(layer, ("postgresql_allow_restart",), "must be true or false")
