"""The inventory's mail data as each mail host needs it.

``mail_domains`` name the host of group ``mail`` that keeps their mailboxes (``host``, default
the group's first host). From that, for one host: the domains it keeps, the mailboxes of those
domains as the host's list (address, quota, state), and the aliases of those domains. The mail
role gets the same answers through the ``pdic_mail_*`` filters, ``pdic mail`` commands through
these functions, so the two never disagree.

It reads already checked inventory data (``pdic inventory check``); it does not validate it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pdic.errors import PdicError
from pdic.inventory import Host, Inventory

MAIL_GROUP = "mail"
SYNC_COMMAND = "/usr/local/sbin/pdic-mail-sync"
DEFAULT_DKIM_DIR = "/etc/dkimkeys"

Row = list[str]  # address, quota, state
Connect = Callable[[Host], Any]  # a host -> something with .run(command) (testinfra's host)


class MailError(PdicError):
    """A mail command got bad input or a mail host could not be read."""


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [x for x in (value or []) if isinstance(x, Mapping)]


def domain_hosts(domains: Any, default_host: str) -> dict[str, str]:
    """Each mail domain (lowercase) and the host that keeps its mailboxes."""
    return {
        str(d["name"]).lower(): str(d.get("host") or default_host)
        for d in _items(domains)
        if d.get("name")
    }


def hosted_domains(domains: Any, host: str, default_host: str) -> list[str]:
    """The domains ``host`` keeps, in inventory order."""
    return [name for name, owner in domain_hosts(domains, default_host).items() if owner == host]


def _domain(address: Any) -> str:
    return str(address).lower().rpartition("@")[2]


def desired_rows(mailboxes: Any, domains: Any, host: str, default_host: str) -> list[Row]:
    """The host's mailbox list from the inventory: ``[address, quota, state]``, sorted."""
    mine = set(hosted_domains(domains, host, default_host))
    rows = [
        [str(m["address"]).lower(), str(m["quota"]), str(m.get("state") or "active")]
        for m in _items(mailboxes)
        if _domain(m.get("address")) in mine
    ]
    return sorted(rows)


ROLE_ADDRESSES = ("postmaster", "abuse")


def hosted_aliases(
    aliases: Any,
    domains: Any,
    host: str,
    default_host: str,
    rows: Iterable[Sequence[str]] = (),
    postmaster: str = "",
) -> list[Row]:
    """``[address, target, target, ...]`` of the aliases in the domains ``host`` keeps, then,
    with ``postmaster``, ``postmaster@`` and ``abuse@`` of each such domain that neither a
    mailbox (``rows``, the host's list) nor an alias declares, to ``postmaster``."""
    kept = hosted_domains(domains, host, default_host)
    mine = set(kept)
    out = []
    for alias in _items(aliases):
        if _domain(alias.get("address")) in mine:
            out.append([str(alias["address"]).lower(), *(str(t).lower() for t in alias["to"])])
    out.sort()
    if postmaster:
        taken = {row[0] for row in out} | {str(row[0]) for row in rows}
        for domain in kept:
            for local in ROLE_ADDRESSES:
                if f"{local}@{domain}" not in taken:
                    out.append([f"{local}@{domain}", postmaster])
    return out


def mail_hosts(inventory: Inventory) -> list[Host]:
    """The hosts of group mail, in inventory order; MailError if there is none."""
    names = inventory.groups.get(MAIL_GROUP, ())
    if not names:
        raise MailError(f"{inventory.path}: group {MAIL_GROUP} has no host")
    return [inventory.hosts[n] for n in names]


def default_host(inventory: Inventory) -> str:
    return mail_hosts(inventory)[0].name


def select_hosts(inventory: Inventory, limit: str | None) -> list[Host]:
    """The mail hosts ``--limit`` selects (all of them without one)."""
    hosts = mail_hosts(inventory)
    if limit is None:
        return hosts
    chosen = {h.name for h in inventory.select(limit)}
    selected = [h for h in hosts if h.name in chosen]
    if not selected:
        raise MailError(f"--limit: {limit!r} selects no host of group {MAIL_GROUP}")
    return selected


def fqdn(inventory: Inventory, host: Host) -> str:
    domain = str(inventory.vars.get("pdic_domain", "")).strip(".")
    return f"{host.name}.{domain}" if domain else host.name


def inventory_rows(inventory: Inventory, host: str) -> list[Row]:
    """:func:`desired_rows` for ``host`` of a loaded inventory."""
    return desired_rows(
        inventory.vars.get("mail_mailboxes"),
        inventory.vars.get("mail_domains"),
        host,
        default_host(inventory),
    )


def names(rows: Iterable[Sequence[str]]) -> list[str]:
    return [row[0] for row in rows]


def run_on(host: Host, connect: Connect, command: str) -> tuple[str, str]:
    """``command``'s output on ``host`` and ``""``, or ``""`` and why it failed: a connection
    failure or a non-zero exit is reported, never raised, so the other hosts are still read."""
    try:
        result = connect(host).run(command)
    except Exception as exc:  # any connection failure is reported per host
        return "", f"{type(exc).__name__}: {exc}".strip()
    if result.rc != 0:
        detail = (result.stderr or result.stdout).strip()[:300]
        return "", detail or f"exit code {result.rc}"
    return str(result.stdout), ""
