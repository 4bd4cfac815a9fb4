"""`pdic db promote HOST`: a replica takes over from the primary, which is fenced first.

Steps, each reported, stopping at the first that fails:

1. The replica is checked: it is a replica (``pg_is_in_recovery()``) of the inventory's
   database group.
2. The old primary is fenced, if it answers: PostgreSQL stopped, its unit masked and Debian's
   ``start.conf`` set to ``disabled``, and ``/etc/pdic/db-fenced`` written (the postgresql role
   then refuses to make it primary again). An old primary that does not answer is reported
   as unfenced: the operator must make sure it stays down (``--force`` goes on anyway).
3. The replica is promoted (``pg_promote()``, waiting until it accepts writes).
4. Every application host (the groups of the roles in ``postgresql_roles``) gets the new
   primary's name in ``/etc/pdic/db-primary``.

Then the inventory must say so: the command ends by naming the ``postgresql_role`` changes to
make in hosts.yml; the next deploy rebuilds the old primary as a replica of the new one.

It does not move the replication slots (the next deploy creates them on the new primary) or
restart the applications (they read the file; app_service decides how).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pdic.db.common import Connect, DbError, run, sql, topology
from pdic.inventory import Inventory

FENCE_FILE = "/etc/pdic/db-fenced"
PRIMARY_FILE = "/etc/pdic/db-primary"
SERVICE = "postgresql@15-main"
START_CONF = "/etc/postgresql/15/main/start.conf"


@dataclass
class PromoteResult:
    new_primary: str
    old_primary: str
    fenced: bool = False
    steps: list[str] = field(default_factory=list)
    app_hosts: list[str] = field(default_factory=list)
    failed_hosts: dict[str, str] = field(default_factory=dict)


def app_hosts(inventory: Inventory) -> list[str]:
    """Hosts of the groups that connect to the databases as application roles, in order."""
    groups: set[str] = set()
    for role in inventory.vars.get("postgresql_roles") or []:
        if isinstance(role, Mapping) and role.get("databases"):
            groups.update(str(g) for g in role.get("groups") or [])
    return [h.name for h in inventory.hosts.values() if groups & set(h.groups)]


def fence_commands(new_primary: str, when: str) -> list[str]:
    """Shell commands that stop the old primary and keep it from starting (run as root)."""
    record = json.dumps({"fenced_at": when, "new_primary": new_primary})
    return [
        f"systemctl stop {SERVICE}",
        f"systemctl mask {SERVICE}",
        f"echo disabled > {START_CONF}",
        f"install -d -m 0755 /etc/pdic && printf '%s\\n' '{record}' > {FENCE_FILE}",
    ]


def promote(
    inventory: Inventory,
    name: str,
    connect: Connect,
    *,
    force: bool = False,
    say: Callable[[str], None] = lambda _: None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> PromoteResult:
    topo = topology(inventory)
    host = inventory.host(name)
    if host.name not in {r.name for r in topo.replicas}:
        raise DbError(
            f"{name}: not a replica of group db (postgresql_role: {host.get('postgresql_role')})"
        )
    result = PromoteResult(host.name, topo.primary.name)

    def step(text: str) -> None:
        result.steps.append(text)
        say(text)

    target = connect(host)
    rows = sql(target, "SELECT pg_is_in_recovery()", what=f"{name}: psql")
    if not rows or rows[0][0] != "t":
        raise DbError(f"{name}: PostgreSQL is not in recovery: it is not a replica now")
    step(f"{name}: is a replica")

    old = connect(topo.primary)
    try:
        for command in fence_commands(host.name, now().isoformat(timespec="seconds")):
            run(old, "sh -c %s", command, what=f"{topo.primary.name}: fence")
        result.fenced = True
        step(
            f"{topo.primary.name}: fenced (stopped, {SERVICE} masked, start.conf disabled, "
            f"{FENCE_FILE})"
        )
    except Exception as exc:
        step(f"{topo.primary.name}: NOT fenced: {str(exc).splitlines()[0] if str(exc) else exc}")
        if not force:
            raise DbError(
                f"{topo.primary.name} could not be fenced; make sure it is down for good, then "
                "rerun with --force"
            ) from None

    sql(target, "SELECT pg_promote(true, 120)", what=f"{name}: pg_promote")
    rows = sql(target, "SELECT pg_is_in_recovery()", what=f"{name}: psql")
    if not rows or rows[0][0] != "f":
        raise DbError(f"{name}: still in recovery after pg_promote")
    step(f"{name}: promoted, accepts writes")

    fqdn = topo.fqdn(host)
    for app in app_hosts(inventory):
        try:
            run(
                connect(inventory.host(app)),
                "sh -c %s",
                f"install -d -m 0755 /etc/pdic && printf '%s\\n' {fqdn} > {PRIMARY_FILE}.tmp "
                f"&& chmod 0644 {PRIMARY_FILE}.tmp && mv {PRIMARY_FILE}.tmp {PRIMARY_FILE}",
                what=f"{app}: {PRIMARY_FILE}",
            )
            result.app_hosts.append(app)
        except Exception as exc:
            result.failed_hosts[app] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    step(
        f"{PRIMARY_FILE} -> {fqdn} on {len(result.app_hosts)} application host(s)"
        + (f"; FAILED on {', '.join(sorted(result.failed_hosts))}" if result.failed_hosts else "")
    )
    step(
        f"now edit {inventory.path}/hosts.yml: {host.name} postgresql_role: primary, "
        f"{topo.primary.name} postgresql_role: replica; the next `pdic deploy` rebuilds "
        f"{topo.primary.name} as a replica of {host.name}"
    )
    return result
