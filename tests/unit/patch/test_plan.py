"""The wave's order, its skip rules, batches and each host's health checks (pure)."""

from __future__ import annotations

from pdic.inventory import Inventory
from pdic.patch.plan import DB_PRIMARY, DB_REPLICA, batches, checks, plan, upstreams


def test_thaibinh_order_replica_before_primary_and_monitoring_last(thaibinh: Inventory) -> None:
    p = plan(thaibinh, list(thaibinh.hosts.values()))
    assert [g.name for g in p.groups] == ["portal", "eoffice", "hcc", "mail", DB_REPLICA]
    assert p.order == [
        "portal-1",
        "portal-2",
        "portal-3",
        "eoffice-1",
        "eoffice-2",
        "hcc-1",
        "hcc-2",
        "mail-1",
        "mail-2",
        "db-2",
    ]
    assert p.skipped == {
        "db-1": f"single member of {DB_PRIMARY}, use --allow-outage",
        "backup-1": "single member of backup, use --allow-outage",
        "ca-1": "single member of pki, use --allow-outage",
        "mon-1": "single member of monitoring, use --allow-outage",
    }


def test_thaibinh_with_allow_outage(thaibinh: Inventory) -> None:
    p = plan(thaibinh, list(thaibinh.hosts.values()), allow_outage=True)
    assert [g.name for g in p.groups] == [
        "portal",
        "eoffice",
        "hcc",
        "mail",
        DB_REPLICA,
        DB_PRIMARY,
        "backup",
        "pki",
        "monitoring",
    ]
    assert p.order[-1] == "mon-1"
    assert p.order.index("db-2") + 1 == p.order.index("db-1")
    assert p.skipped == {}


def test_lab_every_group_alone_but_the_replica(lab: Inventory) -> None:
    p = plan(lab, list(lab.hosts.values()))
    assert p.order == ["db-2"]
    assert set(p.skipped) == set(lab.hosts) - {"db-2"}
    full = plan(lab, list(lab.hosts.values()), allow_outage=True)
    assert full.order == [
        "portal-1",
        "eoffice-1",
        "hcc-1",
        "mail-1",
        "db-2",
        "db-1",
        "backup-1",
        "ca-1",
        "mon-1",
    ]


def test_limit_keeps_the_inventory_order(thaibinh: Inventory) -> None:
    p = plan(thaibinh, thaibinh.select("mon-1,portal-3,db"), allow_outage=True)
    assert p.order == ["portal-3", "db-2", "db-1", "mon-1"]


def test_serial_never_takes_a_whole_group(thaibinh: Inventory) -> None:
    p = plan(thaibinh, list(thaibinh.hosts.values()), allow_outage=True)
    portal = p.group_of("portal-1")
    assert batches(portal, portal.hosts, 1) == [["portal-1"], ["portal-2"], ["portal-3"]]
    assert batches(portal, portal.hosts, 5) == [["portal-1", "portal-2"], ["portal-3"]]
    assert batches(portal, ["portal-2"], 5) == [["portal-2"]]
    eoffice = p.group_of("eoffice-1")
    assert batches(eoffice, eoffice.hosts, 3) == [["eoffice-1"], ["eoffice-2"]]
    mon = p.group_of("mon-1")
    assert batches(mon, mon.hosts, 3) == [["mon-1"]]


def test_checks_follow_what_the_inventory_deploys(thaibinh: Inventory) -> None:
    def kinds(host: str) -> list[tuple[str, str, str]]:
        return [(c.name, c.kind, c.where) for c in checks(thaibinh, thaibinh.hosts[host])]

    portal = kinds("portal-1")
    assert portal[0] == ("systemd units", "units", "host")
    sites = [c for c in checks(thaibinh, thaibinh.hosts["portal-1"]) if c.kind == "https"]
    assert len(sites) == len(thaibinh.vars["portal_sites"]) and sites
    assert {(c.address, c.port) for c in sites} == {("203.0.113.11", 443)}
    assert kinds("eoffice-2") == [
        ("systemd units", "units", "host"),
        ("eoffice /healthz", "healthz", "host"),
    ]
    assert [c[0] for c in kinds("mail-1")][1:] == [
        "mail port 25",
        "mail port 465",
        "mail port 587",
        "mail port 993",
    ]
    assert kinds("db-2")[1:] == [("replica streaming", "replica", "host")]
    assert kinds("db-1")[1:] == [
        ("postgresql primary", "primary", "host"),
        ("pgbackrest check", "pgbackrest", "host"),
    ]
    assert kinds("backup-1")[1:] == [("pgbackrest check", "pgbackrest", "host")]
    assert kinds("mon-1")[1:] == [("prometheus ready", "http", "controller")]
    assert kinds("ca-1") == [("systemd units", "units", "host")]


def test_upstreams_only_where_a_group_has_peers(thaibinh: Inventory, lab: Inventory) -> None:
    found = {app: (name, servers) for app, name, servers in upstreams(thaibinh)}
    assert found["eoffice"] == (
        "pdic_site_eoffice",
        {"eoffice-1": "203.0.113.14:8001", "eoffice-2": "203.0.113.15:8001"},
    )
    assert upstreams(lab) == []
