"""Agencies and portal sites: the province's organisations and their component portals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdic.inventory.context import Context, Field, ListSpec
from pdic.inventory.loader import NOT_A_POSITION
from pdic.inventory.model import TIERS
from pdic.inventory.values import (
    boolean,
    dns_name,
    nginx_size,
    one_of,
    rate,
    slug,
    text,
    tls_source,
    whole_number,
)

AGENCY = ("pdic_agencies", "id")
AGENCIES = ListSpec(
    "pdic_agencies",
    {
        "id": Field(required=True, rule=slug, unique="agency"),
        "name": Field(required=True, rule=text),
        "tier": Field(required=True, rule=one_of(*TIERS)),
        "parent": Field(),
        "domain": Field(rule=dns_name),
    },
)
PORTAL_SITES = ListSpec(
    "portal_sites",
    {
        "name": Field(required=True, rule=slug, unique="site name"),
        "hostname": Field(required=True, rule=dns_name, unique="site hostname", fold=True),
        "agency": Field(required=True, references=AGENCY),
        "title": Field(required=True, rule=text),
        "tls": Field(rule=tls_source),
        "rate_limit": Field(rule=rate),
        "rate_burst": Field(rule=whole_number),
        "body_size": Field(rule=nginx_size),
        "maintenance": Field(rule=boolean),
    },
)


def check(ctx: Context) -> None:
    check_agencies(ctx)
    ctx.check_list(PORTAL_SITES)


def check_agencies(ctx: Context) -> None:
    key = AGENCIES.key
    items, layer = ctx.check_list(AGENCIES)
    if layer is None:
        return
    by_id = {item["id"]: item for _, item in items if isinstance(item.get("id"), str)}
    rank = {tier: n for n, tier in enumerate(TIERS)}
    for i, item in items:
        parent = item.get("parent")
        tier = item.get("tier")
        if parent is None:
            if tier == "commune":
                ctx.at(layer, (key, i), "a commune needs a parent agency")
            continue
        if parent == item.get("id"):
            ctx.at(layer, (key, i, "parent"), "an agency cannot be its own parent")
        elif not isinstance(parent, str) or parent not in by_id:
            ctx.at(layer, (key, i, "parent"), f"unknown parent agency {parent!r}")
        else:
            parent_tier = by_id[parent].get("tier")
            if tier in rank and parent_tier in rank and rank[parent_tier] > rank[tier]:
                ctx.at(
                    layer,
                    (key, i, "parent"),
                    f"parent {parent!r} is a {parent_tier}; a {tier} cannot belong to it",
                )
            loop = parent_loop(ctx, item["id"], by_id)
            if loop:
                ctx.at(layer, (key, i, "parent"), f"parent chain loops: {' -> '.join(loop)}")


def parent_loop(ctx: Context, start: str, by_id: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The loop of parents back to ``start`` (reported once, at its first id), else []."""
    chain = [start]
    current = by_id[start].get("parent")
    while isinstance(current, str) and current in by_id and current not in chain:
        chain.append(current)
        current = by_id[current].get("parent")
    if current != start or len(chain) < 2:
        return []
    agencies = ctx.known(*AGENCY)
    if agencies.get(start, NOT_A_POSITION) != min(agencies.get(a, 0) for a in chain):
        return []
    return [*chain, start]
