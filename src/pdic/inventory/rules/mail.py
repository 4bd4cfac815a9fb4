"""Mail: the domains, which mail host keeps each, the mailboxes and the aliases."""

from __future__ import annotations

from collections.abc import Mapping

from pdic.inventory.context import Context, Field, Items, ListSpec
from pdic.inventory.loader import Layer
from pdic.inventory.model import MAILBOX_STATES
from pdic.inventory.rules.sites import AGENCY
from pdic.inventory.values import dns_name, mail_address, one_of, quota, templated, text

DOMAIN = ("mail_domains", "name")
DOMAINS = ListSpec(
    "mail_domains",
    {
        "name": Field(required=True, rule=dns_name, unique="mail domain", fold=True),
        "agency": Field(required=True, references=AGENCY),
        "host": Field(),
    },
)
MAILBOXES = ListSpec(
    "mail_mailboxes",
    {
        "address": Field(required=True, rule=mail_address, unique="mailbox", fold=True),
        "name": Field(required=True, rule=text),
        "agency": Field(required=True, references=AGENCY),
        "quota": Field(required=True, rule=quota),
        "state": Field(rule=one_of(*MAILBOX_STATES)),
    },
)
ALIASES = ListSpec(
    "mail_aliases",
    {
        "address": Field(required=True, rule=mail_address, unique="alias", fold=True),
        "to": Field(required=True),
        "agency": Field(references=AGENCY),
        "description": Field(rule=text),
    },
)


def check(ctx: Context) -> None:
    items, layer = ctx.check_list(DOMAINS)
    if layer is not None:
        check_mail_hosts(ctx, layer, DOMAINS.key, items)
    check_agency_domains(ctx)
    items, layer = ctx.check_list(MAILBOXES)
    if layer is not None:
        check_mail_domains(ctx, layer, MAILBOXES.key, items)
    check_aliases(ctx)


def check_mail_hosts(ctx: Context, layer: Layer, key: str, items: Items) -> None:
    """A domain's ``host`` is a host of group mail."""
    mail_hosts = ctx.inventory.groups.get("mail", ())
    for i, item in items:
        host = item.get("host")
        if host is None or templated(host):
            continue
        if not isinstance(host, str) or host not in ctx.inventory.hosts:
            ctx.at(
                layer,
                (key, i, "host"),
                f"unknown host {host!r} (not in {ctx.source.hosts_file})",
            )
        elif host not in mail_hosts:
            known = ", ".join(mail_hosts) or "none"
            ctx.at(layer, (key, i, "host"), f"{host!r} is not in group mail (mail hosts: {known})")


def check_agency_domains(ctx: Context) -> None:
    found = ctx.var("pdic_agencies")
    if found is None or ctx.var("mail_domains") is None:
        return
    value, layer = found
    for i, item in enumerate(value if isinstance(value, list) else []):
        domain = item.get("domain") if isinstance(item, Mapping) else None
        if isinstance(domain, str) and domain and domain.lower() not in ctx.known(*DOMAIN):
            ctx.at(
                layer,
                ("pdic_agencies", i, "domain"),
                f"mail domain {domain!r} is not in mail_domains",
            )


def check_mail_domains(ctx: Context, layer: Layer, key: str, items: Items) -> None:
    for i, item in items:
        address = item.get("address")
        if isinstance(address, str) and mail_address(address) is None:
            domain = address.split("@")[1]
            if domain not in ctx.known(*DOMAIN):
                ctx.at(
                    layer,
                    (key, i, "address"),
                    f"domain {domain!r} of {address!r} is not in mail_domains",
                )


def check_aliases(ctx: Context) -> None:
    key = ALIASES.key
    items, layer = ctx.check_list(ALIASES)
    if layer is None:
        return
    check_mail_domains(ctx, layer, key, items)
    domains = ctx.known(*DOMAIN)
    mailboxes = ctx.known(MAILBOXES.key, "address")
    aliases = ctx.known(key, "address")
    targets: dict[str, list[str]] = {}
    for i, item in items:
        address = str(item.get("address", "")).lower()
        if address in mailboxes:
            ctx.at(
                layer,
                (key, i, "address"),
                f"{item['address']!r} is also a mailbox (mail_mailboxes[{mailboxes[address]}])",
            )
        to = item.get("to")
        if not isinstance(to, list) or not to:
            if to not in (None, ""):
                ctx.at(layer, (key, i, "to"), "must be a non-empty list of addresses")
            continue
        for j, target in enumerate(to):
            problem = mail_address(target)
            if problem:
                ctx.at(layer, (key, i, "to", j), problem)
                continue
            target = target.lower()
            local_domain = target.split("@")[1] in domains
            if local_domain and target not in mailboxes and target not in aliases:
                ctx.at(
                    layer,
                    (key, i, "to", j),
                    f"{target!r} is neither a mailbox nor an alias (its domain is in mail_domains)",
                )
            if target in aliases:
                targets.setdefault(address, []).append(target)
    for address, position in aliases.items():
        loop = alias_loop(aliases, address, targets)
        if loop:
            ctx.at(layer, (key, position, "to"), f"alias loop: {' -> '.join(loop)}")


def alias_loop(
    aliases: Mapping[str, int], start: str, targets: Mapping[str, list[str]]
) -> list[str]:
    """A loop from ``start`` back to itself, reported only at its first alias, else []."""
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for target in targets.get(path[-1], []):
            if target == start:
                loop = [*path, start]
                first = min(aliases[a] for a in path)
                return loop if aliases[start] == first else []
            if target not in seen:
                seen.add(target)
                paths.append([*path, target])
    return []
