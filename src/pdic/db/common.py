"""What the database commands share: the error, the hosts of the inventory, running SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pdic.errors import PdicError
from pdic.inventory import Host, Inventory

Connect = Callable[[Host], Any]

PSQL = "runuser -u postgres -- psql -XAtq -F '|' -v ON_ERROR_STOP=1"
DEFAULT_STANZA = "main"
STATE_FILE = "/var/lib/pdic/backup-state.json"


class DbError(PdicError):
    """A database command got bad input or a step on a host failed."""


@dataclass(frozen=True)
class Topology:
    """The database hosts as the inventory declares them."""

    primary: Host
    replicas: tuple[Host, ...]
    repository: Host | None
    domain: str

    def fqdn(self, host: Host) -> str:
        return f"{host.name}.{self.domain}" if self.domain else host.name


def topology(inventory: Inventory) -> Topology:
    """Primary, replicas (``postgresql_role``) and the backup host; DbError if incomplete."""
    db = [inventory.hosts[n] for n in inventory.groups.get("db", ())]
    primaries = [h for h in db if h.get("postgresql_role") == "primary"]
    if len(primaries) != 1:
        raise DbError(
            f"{inventory.path}: group db needs exactly one host with postgresql_role: primary"
        )
    replicas = tuple(h for h in db if h.get("postgresql_role") == "replica")
    backup = [inventory.hosts[n] for n in inventory.groups.get("backup", ())]
    domain = str(inventory.vars.get("pdic_domain", "")).strip(".")
    return Topology(primaries[0], replicas, backup[0] if backup else None, domain)


def run(host: Any, command: str, *args: str, what: str) -> str:
    """stdout of ``command`` on a testinfra host; DbError naming ``what`` if it fails."""
    result = host.run(command, *args)
    if result.rc != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        raise DbError(f"{what}: {detail[-1] if detail else f'exit code {result.rc}'}")
    return str(result.stdout)


def sql(
    host: Any, query: str, *, database: str = "postgres", what: str, extra: str = ""
) -> list[list[str]]:
    """Rows of ``query`` run as postgres on ``host`` (fields split on ``|``)."""
    out = run(host, f"{PSQL} {extra} -d %s -c %s", database, query, what=what)
    return [line.split("|") for line in out.splitlines() if line.strip()]
