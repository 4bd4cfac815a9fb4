"""Groups and hosts: the service groups, the all-level variables every deploy needs, each host's
name, address, SSH port and database role, and where province data may live."""

from __future__ import annotations

import ipaddress
from typing import Any

from pdic.inventory.context import Context
from pdic.inventory.loader import Layer, Problem
from pdic.inventory.model import DATA_KEYS, KNOWN_GROUPS, POSTGRESQL_ROLES, REQUIRED_VARS
from pdic.inventory.values import (
    Validator,
    boolean,
    dns_name,
    environment,
    group_name,
    host_label,
    network,
    one_of,
    port,
    templated,
    timezone,
    unix_user,
)

VAR_RULES: dict[str, Validator] = {
    "pdic_env": environment,
    "pdic_domain": dns_name,
    "pdic_network": network,
    "pdic_ops_user": unix_user,
    "pdic_timezone": timezone,
}


def check(ctx: Context) -> None:
    check_groups(ctx)
    check_hosts(ctx, check_vars(ctx))
    check_data_level(ctx)
    check_names(ctx)


def check_groups(ctx: Context) -> None:
    hosts_file = ctx.source.hosts_file
    places = ctx.source.group_places
    allowed = set(KNOWN_GROUPS) | extra_groups(ctx)
    for group, (file, place) in places.items():
        if group in ("all", "ungrouped") or group in allowed:
            continue
        ctx.add(
            file,
            place,
            f"unknown group {group!r} (known: {', '.join(sorted(KNOWN_GROUPS))}; "
            "list others in pdic_extra_groups)",
        )
    for group in KNOWN_GROUPS:
        if group not in places:
            ctx.add(hosts_file, ("all", "children", group), "required group is missing")
        elif not ctx.inventory.groups.get(group):
            ctx.add(*places[group], "required group has no host")
    for name, host in ctx.inventory.hosts.items():
        if not host.groups:
            ctx.add(*ctx.source.host_places[name][0], "host is in no group")


def extra_groups(ctx: Context) -> set[str]:
    found = ctx.var("pdic_extra_groups")
    if found is None:
        return set()
    value, layer = found
    if not isinstance(value, list):
        ctx.at(layer, ("pdic_extra_groups",), "must be a list of group names")
        return set()
    extra = set()
    for i, name in enumerate(value):
        problem = group_name(name)
        if problem:
            ctx.at(layer, ("pdic_extra_groups", i), problem)
        else:
            extra.add(name)
    return extra


def check_vars(ctx: Context) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """Checks the required all-level variables; returns pdic_network if it is valid."""
    net = None
    for key in REQUIRED_VARS:
        found = ctx.var(key)
        if found is None:
            ctx.problems.append(Problem("group_vars/all", key, "required variable is missing"))
            continue
        value, layer = found
        problem = VAR_RULES[key](value)
        if problem:
            ctx.at(layer, (key,), problem)
        elif key == "pdic_network":
            net = ipaddress.ip_network(value)
    return net


def check_hosts(ctx: Context, net: ipaddress.IPv4Network | ipaddress.IPv6Network | None) -> None:
    seen: dict[Any, str] = {}
    primaries: list[str] = []
    for name, places in ctx.source.host_places.items():
        problem = host_label(name)
        if problem:
            ctx.add(*places[0], problem)
        layers = ctx.source.host_layers[name]
        check_conflicting_addresses(ctx, name, layers)
        origin = ctx.source.origin(layers, "ansible_host")
        if origin is None:
            ctx.add(
                *places[0],
                "ansible_host is missing (the host's IP address inside pdic_network)",
            )
        else:
            address = check_address(ctx, origin, origin.data["ansible_host"], net)
            if address is not None and address in seen:
                ctx.at(
                    origin,
                    ("ansible_host",),
                    f"{str(address)!r} is also the address of {seen[address]}",
                )
            elif address is not None:
                seen[address] = name
        port_origin = ctx.source.origin(layers, "ansible_port")
        if port_origin is not None:
            value = port_origin.data["ansible_port"]
            problem = None if templated(value) else port(value)
            if problem:
                ctx.at(port_origin, ("ansible_port",), problem)
        role_origin = ctx.source.origin(layers, "postgresql_role")
        if role_origin is not None:
            role = role_origin.data["postgresql_role"]
            problem = one_of(*POSTGRESQL_ROLES)(role)
            if problem:
                ctx.at(role_origin, ("postgresql_role",), problem)
            elif role == "primary":
                primaries.append(name)
                if len(primaries) > 1:
                    ctx.at(
                        role_origin,
                        ("postgresql_role",),
                        f"a second primary (first: {primaries[0]}); the others are replicas",
                    )


def check_conflicting_addresses(ctx: Context, name: str, layers: list[Layer]) -> None:
    first: Layer | None = None
    for layer in layers:
        if layer.file not in ctx.source.inventory_files or "ansible_host" not in layer.data:
            continue
        if layer.prefix[-2:-1] != ("hosts",):
            continue
        if first is None:
            first = layer
        elif layer.data["ansible_host"] != first.data["ansible_host"]:
            where = ".".join(str(k) for k in (*first.prefix, "ansible_host"))
            if first.file != layer.file:
                where = f"{first.file}: {where}"
            ctx.at(
                layer,
                ("ansible_host",),
                f"{layer.data['ansible_host']!r} conflicts with "
                f"{first.data['ansible_host']!r} given for {name} at {where}",
            )


def check_address(
    ctx: Context,
    origin: Layer,
    value: Any,
    net: ipaddress.IPv4Network | ipaddress.IPv6Network | None,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        if not isinstance(value, str):
            raise ValueError
        address = ipaddress.ip_address(value)
    except ValueError:
        ctx.at(origin, ("ansible_host",), f"{value!r} is not an IP address")
        return None
    if net is None:
        return address
    if address not in net:
        ctx.at(origin, ("ansible_host",), f"{value!r} is outside pdic_network {str(net)!r}")
    elif net.num_addresses > 2 and address in (net.network_address, net.broadcast_address):
        ctx.at(
            origin,
            ("ansible_host",),
            f"{value!r} is the network or broadcast address of pdic_network {str(net)!r}",
        )
    return address


def check_data_level(ctx: Context) -> None:
    everywhere = {id(layer) for layer in ctx.source.all_layers}
    layers: list[Layer] = []
    for group_layers in ctx.source.group_layers.values():
        layers.extend(group_layers)
    for host_layers in ctx.source.host_layers.values():
        layers.extend(host_layers)
    done: set[int] = set()
    for layer in layers:
        if id(layer) in everywhere or id(layer) in done:
            continue
        done.add(id(layer))
        for key in DATA_KEYS:
            if key in layer.data:
                ctx.at(
                    layer,
                    (key,),
                    "province data belongs at the all level (group_vars/all), "
                    "not in the variables of a group or host",
                )


def check_names(ctx: Context) -> None:
    for layer in ctx.layers_with("pdic_etc_hosts_service_names"):
        problem = boolean(layer.data["pdic_etc_hosts_service_names"])
        if problem:
            ctx.at(layer, ("pdic_etc_hosts_service_names",), problem)
