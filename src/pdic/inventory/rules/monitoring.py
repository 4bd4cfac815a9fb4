"""Monitoring: Prometheus's and Alertmanager's durations, receivers and teams."""

from __future__ import annotations

from typing import Any

from pdic.inventory.context import Context, Items
from pdic.inventory.loader import Layer
from pdic.inventory.values import (
    Validator,
    duration,
    mail_address,
    slug,
    templated,
    webhook_url,
)

DURATION_KEYS = (
    "prometheus_scrape_interval",
    "prometheus_evaluation_interval",
    "prometheus_retention_time",
    "prometheus_rule_for_max",
    "alertmanager_group_wait",
    "alertmanager_group_interval",
    "alertmanager_repeat_interval",
    "alertmanager_watchdog_repeat_interval",
    "blackbox_exporter_timeout",
)
ALERT_TEAMS = ("platform", "web", "database", "mail", "security")
DEFAULT_RECEIVERS = ("oncall",)


def team(value: Any) -> str | None:
    if value in ALERT_TEAMS:
        return None
    return f"{value!r} is not a team of the alert rules ({', '.join(ALERT_TEAMS)})"


def named(
    ctx: Context, layer: Layer, key: str, items: Items, rule: Validator, what: str
) -> dict[str, int]:
    """The items' valid names -> position; an invalid or duplicate name is reported."""
    names: dict[str, int] = {}
    for i, item in items:
        name = item.get("name")
        if name in (None, ""):
            continue
        problem = rule(name)
        if problem:
            ctx.at(layer, (key, i, "name"), problem)
        elif name in names:
            ctx.at(
                layer,
                (key, i, "name"),
                f"duplicate {what} {name!r} (first at {key}[{names[name]}])",
            )
        else:
            names[name] = i
    return names


def check(ctx: Context) -> None:
    for key in DURATION_KEYS:
        for layer in ctx.layers_with(key):
            value = layer.data[key]
            problem = None if templated(value) else duration(value)
            if problem:
                ctx.at(layer, (key,), problem)
    for key in ("grafana_enabled", "alertmanager_watchdog_carries_critical"):
        for layer in ctx.layers_with(key):
            if not isinstance(layer.data[key], bool) and not templated(layer.data[key]):
                ctx.at(layer, (key,), "must be true or false")

    receivers: set[str] = set()
    key = "alertmanager_receivers"
    receiver_layers = ctx.layers_with(key)
    for layer in receiver_layers:
        items = ctx.mappings(layer, key, {"name": True, "email_to": False, "webhook_urls": False})
        receivers.update(named(ctx, layer, key, items, slug, "receiver"))
        for i, item in items:
            if item.get("email_to") in (None, "") and item.get("webhook_urls") in (None, ""):
                ctx.at(layer, (key, i), "needs email_to or webhook_urls (where it sends to)")
            for field, what, check in (
                ("email_to", "mail addresses", mail_address),
                ("webhook_urls", "http(s) URLs", webhook_url),
            ):
                to = item.get(field)
                if to in (None, "") or templated(to):
                    continue
                if not isinstance(to, list) or not to:
                    ctx.at(layer, (key, i, field), f"must be a list of {what}")
                    continue
                for j, value in enumerate(to):
                    problem = None if templated(value) else check(value)
                    if problem:
                        ctx.at(layer, (key, i, field, j), problem)
    if not receiver_layers:
        receivers.update(DEFAULT_RECEIVERS)
    known = ", ".join(sorted(receivers)) or "none"

    key = "alertmanager_teams"
    for layer in ctx.layers_with(key):
        items = ctx.mappings(layer, key, {"name": True, "receiver": True})
        named(ctx, layer, key, items, team, "team")
        for i, item in items:
            receiver = item.get("receiver")
            if receiver not in (None, "", *receivers) and not templated(receiver):
                ctx.at(
                    layer,
                    (key, i, "receiver"),
                    f"unknown receiver {receiver!r} (alertmanager_receivers: {known})",
                )

    # The Watchdog's receiver may be empty (the role then discards it).
    for key, allowed in (
        ("alertmanager_default_receiver", receivers),
        ("alertmanager_watchdog_receiver", receivers | {""}),
    ):
        for layer in ctx.layers_with(key):
            value = layer.data[key]
            if not templated(value) and value not in allowed:
                ctx.at(
                    layer, (key,), f"unknown receiver {value!r} (alertmanager_receivers: {known})"
                )
