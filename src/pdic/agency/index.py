"""Every agency of an inventory with what the inventory gives it, read in one pass.

:func:`index` walks each province list once (agencies, portal sites, mail domains, mailboxes,
aliases) and files every item under its agency, so listing the 788 agencies of
inventory/thaibinh costs one inventory load and a few dictionary look-ups. The records are
static: the inventory's word, not the hosts'. :func:`describe` turns one into the mapping
``pdic agency show`` prints, plus a ``live`` section when a function for it is given (the
hosts' view of the agency, to come; it takes the static record and returns extra fields).

A certificate's expiry is read only from a file readable on this machine (a site's own
``tls.certificate``); the centre's CA issues ``site-<name>`` on the portal hosts, which only
those hosts hold. Organisation certificates are the ``pdic_certificate_files`` entries that name
the agency (globs of files placed by hand on the hosts that set them). The inventory links no
application to an agency (``pdic_applications`` has no agency): ``applications`` stays empty
until it does. :mod:`pdic.agency.live` gives what the hosts say (``show`` without
``--offline``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdic.arguments import shown
from pdic.errors import AgencyError
from pdic.inventory import Inventory
from pdic.inventory.model import TIERS
from pdic.pki.owners import entry_agency, entry_path

LIST_FORMATS = ("table", "json", "csv")
SHOW_FORMATS = ("text", "json")
LIST_COLUMNS = (
    "id",
    "name",
    "tier",
    "parent",
    "sites",
    "mail_domain",
    "mailboxes",
    "certificates",
)
DEFAULT_CERT_DIR = "/etc/pdic/pki"  # pki_cert's default, as pdic.pki.register reads it

Live = Callable[["Agency"], Mapping[str, Any]]
"""What the hosts say about an agency: extra fields for its ``live`` section."""


@dataclass(frozen=True)
class Certificate:
    """A certificate one of the agency's sites is served with.

    ``source`` is ``internal`` (issued by the centre's CA as ``name`` on each of ``hosts``, at
    ``path`` there) or ``files`` (the site's own certificate at ``path``). ``not_after`` is
    known only when ``path`` is readable here; ``note`` says why it is not.
    """

    name: str
    site: str
    source: str
    path: str
    hosts: tuple[str, ...]
    not_after: dt.datetime | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "site": self.site,
            "source": self.source,
            "path": self.path,
            "hosts": list(self.hosts),
            "not_after": None if self.not_after is None else self.not_after.isoformat(),
            "note": self.note,
        }


@dataclass
class Agency:
    """One agency and what the inventory gives it (raw inventory items, in inventory order)."""

    id: str
    name: str
    tier: str
    parent: str | None
    domain: str | None
    children: list[str] = field(default_factory=list)
    sites: list[Mapping[str, Any]] = field(default_factory=list)
    mail_domains: list[Mapping[str, Any]] = field(default_factory=list)
    mailboxes: list[Mapping[str, Any]] = field(default_factory=list)
    aliases: list[Mapping[str, Any]] = field(default_factory=list)
    applications: list[Mapping[str, Any]] = field(default_factory=list)
    organisation: dict[str, list[str]] = field(default_factory=dict)
    """Its organisation certificates: ``pdic_certificate_files`` glob -> the hosts that set it."""

    def row(self) -> dict[str, Any]:
        """The agency's line in ``pdic agency list``."""
        return {
            "id": self.id,
            "name": self.name,
            "tier": self.tier,
            "parent": self.parent or "",
            "sites": [str(s.get("name")) for s in self.sites],
            "mail_domain": self.domain or "",
            "mailboxes": len(self.mailboxes),
            # One per site (its CA's or its own), and its organisation certificates' globs.
            "certificates": len(self.sites) + len(self.organisation),
        }


@dataclass(frozen=True)
class Index:
    """The agencies of an inventory by id, in inventory order, with the hosts they use."""

    inventory: Inventory
    agencies: dict[str, Agency]

    def get(self, agency_id: str) -> Agency:
        """The agency ``agency_id``; AgencyError if the inventory has none."""
        try:
            return self.agencies[agency_id]
        except KeyError:
            where = self.inventory.path
            raise AgencyError(
                f"no agency {shown(agency_id)} in {where} (pdic agency list names them)"
            ) from None


def _items(inventory: Inventory, key: str) -> list[Mapping[str, Any]]:
    value = inventory.vars.get(key)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def index(inventory: Inventory) -> Index:
    """Every agency of ``inventory`` with its sites, mail and children, in one pass per list."""
    agencies: dict[str, Agency] = {}
    for item in _items(inventory, "pdic_agencies"):
        parent = item.get("parent")
        domain = item.get("domain")
        agencies[str(item.get("id"))] = Agency(
            id=str(item.get("id")),
            name=str(item.get("name", "")),
            tier=str(item.get("tier", "")),
            parent=None if parent is None else str(parent),
            domain=None if domain is None else str(domain).lower(),
        )
    for agency in agencies.values():
        if agency.parent in agencies:
            agencies[agency.parent].children.append(agency.id)
    owner: dict[str, str] = {}  # mail domain -> the agency that owns it
    for key, attr in (
        ("portal_sites", "sites"),
        ("mail_domains", "mail_domains"),
        ("mail_mailboxes", "mailboxes"),
    ):
        for item in _items(inventory, key):
            holder = agencies.get(str(item.get("agency")))
            if holder is not None:
                getattr(holder, attr).append(item)
                if key == "mail_domains":
                    owner[str(item.get("name", "")).lower()] = holder.id
    for item in _items(inventory, "mail_aliases"):
        agency_id = item.get("agency")
        if agency_id is None:  # an alias of no agency belongs to its domain's
            agency_id = owner.get(str(item.get("address", "")).rpartition("@")[2].lower())
        if str(agency_id) in agencies:
            agencies[str(agency_id)].aliases.append(item)
    for host in inventory.hosts.values():
        for entry in host.get("pdic_certificate_files") or []:
            holder = agencies.get(entry_agency(entry)) if isinstance(entry, Mapping) else None
            if holder is not None:
                holder.organisation.setdefault(entry_path(entry), []).append(host.name)
    return Index(inventory, agencies)


def select(found: Index, tier: str | None) -> list[Agency]:
    """The agencies of ``tier`` (every one if None), in inventory order."""
    check_tier(tier)
    return [a for a in found.agencies.values() if tier is None or a.tier == tier]


def check_tier(tier: str | None) -> None:
    if tier is not None and tier not in TIERS:
        raise AgencyError(f"--tier: {shown(tier)} is not one of {', '.join(TIERS)}")


def check_format(value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise AgencyError(f"--format: {shown(value)} is not one of {', '.join(allowed)}")
    return value


# -- pdic agency list ------------------------------------------------------------------------


def format_list(agencies: Sequence[Agency], fmt: str) -> str:
    """The agencies' rows as ``table``, ``json`` or ``csv``."""
    rows = [a.row() for a in agencies]
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    cells = [[_cell(r[c]) for c in LIST_COLUMNS] for r in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LIST_COLUMNS)
        writer.writerows(cells)
        return out.getvalue()
    header = [c.upper().replace("_", " ") for c in LIST_COLUMNS]
    table = [header, *cells]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in table
    )


def _cell(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


# -- pdic agency show ------------------------------------------------------------------------


def certificates(inventory: Inventory, agency: Agency) -> list[Certificate]:
    """The certificates the agency's sites are served with (see :class:`Certificate`)."""
    portal = inventory.groups.get("portal", ())
    found = []
    for site in agency.sites:
        name = str(site.get("name"))
        tls = site.get("tls", "internal")
        if isinstance(tls, Mapping):
            path = str(tls.get("certificate"))
            not_after, note = read_expiry(Path(path))
            found.append(Certificate(name, name, "files", path, tuple(portal), not_after, note))
            continue
        cert_dir = DEFAULT_CERT_DIR
        if portal:
            cert_dir = str(inventory.hosts[portal[0]].get("pki_cert_dir") or DEFAULT_CERT_DIR)
        found.append(
            Certificate(
                f"site-{name}",
                name,
                "internal",
                f"{cert_dir.rstrip('/')}/site-{name}.crt",
                tuple(portal),
                note="on the portal hosts only",
            )
        )
    for glob, hosts in agency.organisation.items():
        found.append(
            Certificate(
                glob.rpartition("/")[2],
                "",
                "organisation",
                glob,
                tuple(hosts),
                note=f"placed by hand on {', '.join(hosts)}",
            )
        )
    return found


def read_expiry(path: Path) -> tuple[dt.datetime | None, str]:
    """The expiry of the certificate at ``path`` if it is readable here, else why not."""
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"not readable here ({exc.strerror or exc})"
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            cert = x509.load_pem_x509_certificates(data)[0]
        else:
            cert = x509.load_der_x509_certificate(data)
    except ValueError:
        return None, "not a certificate"
    return cert.not_valid_after_utc, ""


def describe(found: Index, agency: Agency, live: Live | None = None) -> dict[str, Any]:
    """Everything the inventory gives ``agency`` as one mapping; ``live`` adds the hosts' view."""
    inventory = found.inventory
    mail_hosts = inventory.groups.get("mail", ())
    portal = list(inventory.groups.get("portal", ()))
    parent = found.agencies.get(agency.parent or "")
    record: dict[str, Any] = {
        "id": agency.id,
        "name": agency.name,
        "tier": agency.tier,
        "parent": None
        if agency.parent is None
        else {"id": agency.parent, "name": parent and parent.name},
        "children": agency.children,
        "mail_domain": agency.domain,
        "sites": [
            {
                "name": s.get("name"),
                "hostname": s.get("hostname"),
                "title": s.get("title"),
                "tls": s.get("tls", "internal"),
                "served_by": portal,
            }
            for s in agency.sites
        ],
        "mail_domains": [
            {
                "name": d.get("name"),
                "host": d.get("host") or (mail_hosts[0] if mail_hosts else None),
            }
            for d in agency.mail_domains
        ],
        "mailboxes": [
            {
                "address": m.get("address"),
                "name": m.get("name"),
                "quota": m.get("quota"),
                "state": m.get("state", "active"),
            }
            for m in agency.mailboxes
        ],
        "aliases": [
            {
                "address": a.get("address"),
                "to": list(a.get("to") or []),
                "description": a.get("description"),
            }
            for a in agency.aliases
        ],
        "applications": [dict(a) for a in agency.applications],
        "certificates": [c.as_dict() for c in certificates(inventory, agency)],
    }
    if live is not None:
        record["live"] = dict(live(agency))
    return record


def format_show(record: Mapping[str, Any], fmt: str) -> str:
    """``pdic agency show``'s output: ``json``, or ``text`` for a person."""
    if fmt == "json":
        return json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
    parent = record["parent"]
    lines = [
        f"{record['id']}: {record['name']}",
        f"  tier: {record['tier']}",
        f"  parent: {parent['id'] + ' (' + str(parent['name']) + ')' if parent else '-'}",
        f"  children: {len(record['children'])}",
        f"  mail domain: {record['mail_domain'] or '-'}",
        f"sites: {len(record['sites'])}",
    ]
    for site in record["sites"]:
        lines.append(
            f"  {site['name']}: https://{site['hostname']}/ ({site['title']}), "
            f"served by {', '.join(site['served_by']) or 'no portal host'}"
        )
    lines.append(f"mail domains: {len(record['mail_domains'])}")
    lines += [f"  {d['name']} on {d['host'] or 'no mail host'}" for d in record["mail_domains"]]
    lines.append(f"mailboxes: {len(record['mailboxes'])}")
    for box in record["mailboxes"]:
        state = "" if box["state"] == "active" else f" ({box['state']})"
        lines.append(f"  {box['address']}  {box['name']}  {box['quota']}{state}")
    lines.append(f"aliases: {len(record['aliases'])}")
    lines += [f"  {a['address']} -> {', '.join(a['to'])}" for a in record["aliases"]]
    lines.append(f"applications: {len(record['applications'])}")
    lines += [f"  {a.get('name')}" for a in record["applications"]]
    lines.append(f"certificates: {len(record['certificates'])}")
    for cert in record["certificates"]:
        expiry = cert["not_after"] or cert["note"]
        lines.append(f"  {cert['name']} ({cert['source']}): {cert['path']}: {expiry}")
    if "live" in record:
        lines += format_live(record["live"])
    return "\n".join(lines) + "\n"


def format_live(live: Mapping[str, Any]) -> list[str]:
    """The live section as text: each read's lines, or the one line that says it is unknown."""
    lines = ["live:"]
    records = ""
    for key, value in live.items():
        if key == "dns_records":
            records = str(value or "")
            continue
        shown_ = LIVE_LINES.get(key)
        if shown_ is None or not isinstance(value, list):
            lines.append(f"  {key}: {value}")
        elif not value:
            lines.append(f"  {key}: none")
        else:
            lines.append(f"  {key}:")
            lines += [f"    {shown_(item)}" for item in value]
    if records:
        lines += ["DNS records to publish:", *records.rstrip("\n").splitlines()]
    return lines


def _certificate_line(item: Mapping[str, Any]) -> str:
    if "state" in item:
        return f"{item['host']}: {item['state']}"
    return (
        f"{item['host']}:{item['path']}: expires {item['not_after']} "
        f"({item['days_left']} days), revoked: {item['revoked']}"
    )


def _mailbox_line(item: Mapping[str, Any]) -> str:
    missing = item.get("missing") or []
    more = f"; missing: {', '.join(missing)}" if missing else ""
    return f"{item['host']}: {item['state']}{more}"


LIVE_LINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "sites": lambda i: f"{i['site']} ({i['hostname']}) on {i['host']}: {i['state']}",
    "certificates": _certificate_line,
    "mailboxes": _mailbox_line,
    "dkim": lambda i: f"{i['domain']} on {i['host']}: {i['state']}",
    "probes": lambda i: f"{i['site']} {i['target']}: {i['state']}".replace("  ", " "),
    "alerts": lambda i: f"{i['alert']} ({i['severity']}, {i['state']}): {i['summary']}",
}
