"""Network checks: the nftables ruleset, listening sockets, network sysctls.

The allowed ports come from the catalogue (``params``, per inventory group); the checks only
compare. ``net.*`` sysctls are per network namespace, so they are the host's own even in a lab
container; kernel-wide ones (``kernel.*``, ``fs.*``) are not checked here.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from pdic.compliance.checks.base import CheckOutcome, HostLike, Probe, check, sysctl_check


def nft_ruleset(probe: Probe) -> list[dict[str, Any]] | None:
    result = probe.run("nft -j list ruleset")
    if result.rc != 0:
        return None
    try:
        items = json.loads(result.stdout or "{}").get("nftables", [])
    except json.JSONDecodeError:
        return None
    return [item for item in items if isinstance(item, dict)]


def input_chains(ruleset: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        item["chain"]
        for item in ruleset
        if "chain" in item
        and item["chain"].get("hook") == "input"
        and item["chain"].get("family") in ("inet", "ip", "ip6")
    ]


@check("network_firewall_default_deny")
def network_firewall_default_deny(host: HostLike) -> CheckOutcome:
    """nftables drops inbound traffic by default (an input base chain with policy drop)."""
    probe = Probe(host)
    ruleset = nft_ruleset(probe)
    if ruleset is None:
        return probe.failed("nft -j list ruleset failed: nftables missing or not readable")
    chains = input_chains(ruleset)
    dropping = [c for c in chains if c.get("policy") == "drop"]
    families = {c["family"] for c in dropping}
    if "inet" in families or {"ip", "ip6"} <= families:
        names = ", ".join(f"{c['family']} {c['table']} {c['name']}" for c in dropping)
        return probe.passed(f"input policy drop: {names}")
    return probe.failed(
        "no input base chain with policy drop for IPv4 and IPv6"
        + (f" (input chains: {[(c['family'], c.get('policy')) for c in chains]})" if chains else "")
    )


def _ports(value: Any) -> Iterator[int]:
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict) and "set" in value:
        for item in value["set"]:
            yield from _ports(item)
    elif isinstance(value, dict) and "range" in value:
        low, high = value["range"]
        yield from range(int(low), int(high) + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _ports(item)


def accepted_tcp_ports(ruleset: list[dict[str, Any]]) -> set[int]:
    """TCP destination ports accepted by rules of the input base chains."""
    chains = {(c["family"], c["table"], c["name"]) for c in input_chains(ruleset)}
    ports: set[int] = set()
    for item in ruleset:
        rule = item.get("rule")
        if not rule or (rule.get("family"), rule.get("table"), rule.get("chain")) not in chains:
            continue
        exprs = rule.get("expr", [])
        if not any("accept" in e for e in exprs if isinstance(e, dict)):
            continue
        for e in exprs:
            match = e.get("match") if isinstance(e, dict) else None
            if not match:
                continue
            left = match.get("left", {}).get("payload", {})
            if left.get("protocol") == "tcp" and left.get("field") == "dport":
                ports.update(_ports(match.get("right")))
    return ports


@check("network_firewall_allowlist")
def network_firewall_allowlist(
    host: HostLike, *, allowed_tcp_ports: Sequence[int] = (22,)
) -> CheckOutcome:
    """The firewall opens only the TCP ports allowed for the host's services."""
    probe = Probe(host)
    ruleset = nft_ruleset(probe)
    if ruleset is None:
        return probe.failed("nft -j list ruleset failed: nftables missing or not readable")
    opened = accepted_tcp_ports(ruleset)
    extra = sorted(opened - set(allowed_tcp_ports))
    return probe.verdict(
        [f"firewall accepts TCP ports outside the allow-list: {extra}"] if extra else [],
        f"accepted TCP ports {sorted(opened)} within {sorted(allowed_tcp_ports)}",
    )


def _is_loopback(address: str) -> bool:
    address = address.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@check("network_no_unexpected_listeners")
def network_no_unexpected_listeners(
    host: HostLike,
    *,
    allowed_tcp_ports: Sequence[int] = (22,),
    allowed_udp_ports: Sequence[int] = (),
) -> CheckOutcome:
    """Nothing listens on a non-loopback address except the host's allowed ports."""
    probe = Probe(host)
    result = probe.run("ss -Hlntu")
    if result.rc != 0:
        return probe.error("ss -Hlntu failed")
    allowed = {"tcp": set(allowed_tcp_ports), "udp": set(allowed_udp_ports)}
    unexpected = []
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        proto, local = fields[0], fields[4]
        address, _, port = local.rpartition(":")
        if proto not in allowed or _is_loopback(address) or not port.isdigit():
            continue
        if int(port) not in allowed[proto]:
            unexpected.append(f"{proto} {local}")
    return probe.verdict(
        [f"unexpected listeners: {sorted(set(unexpected))}"] if unexpected else [],
        "only allowed ports listen",
    )


def _both(template: str, value: str, families: Sequence[str] = ("ipv4", "ipv6")) -> dict[str, str]:
    return {template.format(family=f, which=w): value for f in families for w in ("all", "default")}


SYSCTL_CHECKS: dict[str, tuple[str, dict[str, str]]] = {
    "network_ip_forwarding_disabled": (
        "The host does not route packets between interfaces.",
        {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"},
    ),
    "network_icmp_redirects_rejected": (
        "ICMP redirects (secure or not) do not change the routing table.",
        {
            **_both("net.{family}.conf.{which}.accept_redirects", "0"),
            **_both("net.{family}.conf.{which}.secure_redirects", "0", ("ipv4",)),
        },
    ),
    "network_send_redirects_disabled": (
        "The host does not send ICMP redirects (it is not a router).",
        _both("net.{family}.conf.{which}.send_redirects", "0", ("ipv4",)),
    ),
    "network_source_route_rejected": (
        "Source-routed packets are dropped.",
        _both("net.{family}.conf.{which}.accept_source_route", "0"),
    ),
    "network_reverse_path_filter": (
        "Packets whose source is not routable back through their interface are dropped.",
        _both("net.{family}.conf.{which}.rp_filter", "1", ("ipv4",)),
    ),
    "network_syn_cookies": (
        "TCP SYN cookies protect against SYN floods.",
        {"net.ipv4.tcp_syncookies": "1"},
    ),
    "network_martians_logged": (
        "Packets with impossible addresses are logged.",
        _both("net.{family}.conf.{which}.log_martians", "1", ("ipv4",)),
    ),
    "network_icmp_broadcasts_ignored": (
        "Broadcast pings and bogus ICMP error responses are ignored.",
        {
            "net.ipv4.icmp_echo_ignore_broadcasts": "1",
            "net.ipv4.icmp_ignore_bogus_error_responses": "1",
        },
    ),
}
"""Network sysctl checks: name -> (what it ensures, default expected values)."""


def _register_sysctl_check(name: str, doc: str, default: Mapping[str, str]) -> None:
    def sysctl_values(
        host: HostLike, *, expected: Mapping[str, str] = MappingProxyType(dict(default))
    ) -> CheckOutcome:
        return sysctl_check(host, expected)

    sysctl_values.__doc__ = doc
    sysctl_values.__name__ = name
    check(name)(sysctl_values)


for _name, (_doc, _expected) in SYSCTL_CHECKS.items():
    _register_sysctl_check(_name, _doc, _expected)
