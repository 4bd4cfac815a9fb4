"""Hardening: the firewall's allow-list rules and the central log server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdic.inventory.context import Context
from pdic.inventory.loader import KeyPath, Layer
from pdic.inventory.values import address_or_network, firewall_rule_name, one_of, port

FIREWALL_KEYS = ("firewall_rules", "firewall_group_rules", "firewall_host_rules")
FIREWALL_PROTOCOLS = ("tcp", "udp")


def check(ctx: Context) -> None:
    check_firewall(ctx)
    check_log_server(ctx)


def check_firewall(ctx: Context) -> None:
    fields = {
        "name": True,
        "ports": True,
        "proto": False,
        "on": False,
        "from_groups": False,
        "from_networks": False,
    }
    expected = ", ".join(sorted(fields))
    for layer in ctx.layers():
        for key in FIREWALL_KEYS:
            rules = layer.data.get(key)
            if key not in layer.data or (isinstance(rules, str) and "{{" in rules):
                continue
            if not isinstance(rules, list):
                ctx.at(layer, (key,), "must be a list of rules")
                continue
            for i, rule in enumerate(rules):
                check_firewall_rule(ctx, layer, (key, i), rule, fields, expected)


def check_firewall_rule(
    ctx: Context,
    layer: Layer,
    at: KeyPath,
    rule: Any,
    fields: dict[str, bool],
    expected: str,
) -> None:
    if not isinstance(rule, Mapping):
        ctx.at(layer, at, "must be a mapping")
        return
    for name in rule:
        if name not in fields:
            ctx.at(layer, (*at, name), f"unknown key {name!r} (expected: {expected})")
    for name, required in fields.items():
        if required and name not in rule:
            ctx.at(layer, at, f"missing required key {name!r}")
    problem = firewall_rule_name(rule["name"]) if "name" in rule else None
    if problem:
        ctx.at(layer, (*at, "name"), problem)
    ports = rule.get("ports")
    if "ports" in rule and (not isinstance(ports, list) or not ports):
        ctx.at(layer, (*at, "ports"), "must be a non-empty list of ports")
    for j, value in enumerate(ports if isinstance(ports, list) else []):
        problem = port(value)
        if problem:
            ctx.at(layer, (*at, "ports", j), problem)
    if "proto" in rule:
        problem = one_of(*FIREWALL_PROTOCOLS)(rule["proto"])
        if problem:
            ctx.at(layer, (*at, "proto"), problem)
    for name in ("on", "from_groups"):
        if name in rule:
            ctx.group_list(layer, (*at, name), rule[name])
    networks = rule.get("from_networks", [])
    if not isinstance(networks, list):
        ctx.at(layer, (*at, "from_networks"), "must be a list of addresses or networks")
        networks = []
    for j, value in enumerate(networks):
        problem = address_or_network(value)
        if problem:
            ctx.at(layer, (*at, "from_networks", j), problem)
    if not rule.get("from_groups") and not networks:
        ctx.at(layer, at, "admits nobody: set from_groups or from_networks")


def check_log_server(ctx: Context) -> None:
    for layer in ctx.layers():
        value = layer.data.get("hardening_log_server")
        if not isinstance(value, str) or not value or "{{" in value:
            continue
        if value not in ctx.inventory.hosts:
            ctx.at(
                layer,
                ("hardening_log_server",),
                f"unknown host {value!r} (not in {ctx.source.hosts_file})",
            )
