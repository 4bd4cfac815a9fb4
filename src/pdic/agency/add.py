"""``pdic agency add FILE``: a new agency written into the inventory's own files.

FILE describes the agency (YAML)::

    id: so-chuyen-doi-so              # required: a slug no agency has
    name: "Sở Chuyển đổi số"          # required
    tier: province                    # required: province | district | commune
    parent: ubnd-tinh                 # an existing agency (required for a commune)
    mail:                             # optional: the agency's own mail domain
      domain: socds.thaibinh.gov.vn   # required: a domain no one uses yet
      host: mail-1                    # the mail host that keeps it (default: the first)
      quota: 1G                       # the mailboxes' default quota (default: 1G)
      mailboxes:                      # local parts with display names, or a count
        - {local: vanthu, name: "Văn thư", quota: 2G}
    site:                             # optional: its component portal
      name: socds                     # required: a site name no one uses yet
      hostname: socds.thaibinh.gov.vn # required
      title: "Cổng thông tin điện tử Sở Chuyển đổi số"   # default: from the name

A count of mailboxes makes ``hopthu1@DOMAIN``... named after the agency. The entries are
appended to the lists where the inventory keeps them (``pdic_agencies``, ``portal_sites``,
``mail_domains``, ``mail_mailboxes``), each file read and written with ruamel.yaml's round trip,
so its comments, key order and quoting stay as they were; a file that would not come back
byte for byte is refused rather than reformatted. A site's certificate needs no entry of its
own where the inventory's ``pki_cert_group_certificates`` derives ``site-<name>`` from
``portal_sites`` (both reference inventories do); otherwise the result says to add it.

Before anything is written the whole resulting inventory, in a temporary copy, passes
``pdic inventory check``'s rules; any problem is :class:`~pdic.errors.AgencyError` naming
FILE and its key, and nothing is written. Each file is replaced atomically
(:func:`pdic.files.write_atomically`); files are written one after the other, not as one
transaction. It does not reach a host: the next deploy makes the hosts serve the agency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pdic.agency import yamledit
from pdic.agency.index import index
from pdic.agency.yamledit import Document
from pdic.errors import AgencyError, InventoryError
from pdic.inventory.check import problems
from pdic.inventory.loader import KeyPath, Source, read_inventory
from pdic.inventory.model import TIERS
from pdic.inventory.values import dns_name, mail_address, one_of, quota, slug, text

DEFAULT_QUOTA = "1G"
TOP_KEYS = ("id", "name", "tier", "parent", "mail", "site")
MAIL_KEYS = ("domain", "host", "quota", "mailboxes")
MAILBOX_KEYS = ("local", "name", "quota")
SITE_KEYS = ("name", "hostname", "title")


@dataclass
class Entry:
    """One item to append to an inventory list, and the key of FILE it comes from."""

    key: str  # the inventory list (pdic_agencies, ...)
    item: dict[str, Any]
    origin: str  # FILE's key the item comes from ("", "site", "mail.mailboxes[2]")
    fields: dict[str, str]  # the item's field -> FILE's key, for messages
    quoted: tuple[str, ...] = ("name",)  # the texts written in double quotes, as the files do


@dataclass
class Plan:
    """What ``add`` writes: the new text of each inventory file touched, and notes."""

    inventory: Path
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)  # rel -> (old, new)
    notes: list[str] = field(default_factory=list)

    def diff(self) -> str:
        """A unified diff per file, as ``diff -u`` paths relative to the inventory."""
        return yamledit.diff(self.texts)


# -- FILE --------------------------------------------------------------------------------------


def read_spec(path: Path) -> dict[str, Any]:
    """FILE's mapping, its shape and values checked; AgencyError naming FILE and the key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AgencyError(f"{path}: (file): cannot read: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise AgencyError(f"{path}: {where}: not YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise AgencyError(f"{path}: (file): not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise AgencyError(f"{path}: (file): must be a mapping of {', '.join(TOP_KEYS)}")
    found: list[str] = []

    def bad(key: str, what: str) -> None:
        found.append(f"{path}: {key}: {what}")

    _shape(data, "", TOP_KEYS, ("id", "name", "tier"), bad)
    for key, rule in (("id", slug), ("name", text), ("tier", one_of(*TIERS)), ("parent", slug)):
        if data.get(key) is not None and rule(data[key]):
            bad(key, str(rule(data[key])))
    mail = data.get("mail")
    if mail is not None:
        if not isinstance(mail, dict):
            bad("mail", "must be a mapping of " + ", ".join(MAIL_KEYS))
        else:
            _check_mail(mail, bad)
    site = data.get("site")
    if site is not None:
        if not isinstance(site, dict):
            bad("site", "must be a mapping of " + ", ".join(SITE_KEYS))
        else:
            _shape(site, "site.", SITE_KEYS, ("name", "hostname"), bad)
            for key, rule in (("name", slug), ("hostname", dns_name), ("title", text)):
                if site.get(key) is not None and rule(site[key]):
                    bad(f"site.{key}", str(rule(site[key])))
    if found:
        raise AgencyError("\n".join(found))
    return data


def _shape(
    data: Mapping[str, Any], prefix: str, keys: tuple[str, ...], required: tuple[str, ...], bad: Any
) -> None:
    for key in data:
        if key not in keys:
            bad(f"{prefix}{key}", f"unknown key (expected: {', '.join(keys)})")
    for key in required:
        if data.get(key) in (None, ""):
            bad(f"{prefix}{key}", "missing")


def _check_mail(mail: Mapping[str, Any], bad: Any) -> None:
    _shape(mail, "mail.", MAIL_KEYS, ("domain",), bad)
    if mail.get("domain") is not None and dns_name(mail["domain"]):
        bad("mail.domain", str(dns_name(mail["domain"])))
    if mail.get("quota") is not None and quota(mail["quota"]):
        bad("mail.quota", str(quota(mail["quota"])))
    boxes = mail.get("mailboxes")
    if boxes is None or (isinstance(boxes, int) and not isinstance(boxes, bool) and boxes >= 0):
        return
    if not isinstance(boxes, list):
        bad("mail.mailboxes", "must be a whole number or a list of local, name (and quota)")
        return
    for i, box in enumerate(boxes):
        where = f"mail.mailboxes[{i}]"
        if not isinstance(box, dict):
            bad(where, "must be a mapping of " + ", ".join(MAILBOX_KEYS))
            continue
        _shape(box, f"{where}.", MAILBOX_KEYS, ("local", "name"), bad)
        local = box.get("local")
        if local is not None and mail_address(f"{local}@example.org"):
            bad(f"{where}.local", f"{local!r} is not a mail address's local part (lowercase)")
        if box.get("quota") is not None and quota(box["quota"]):
            bad(f"{where}.quota", str(quota(box["quota"])))


# -- the entries -------------------------------------------------------------------------------


def entries(spec: Mapping[str, Any]) -> list[Entry]:
    """The inventory items ``spec`` adds, each with where in FILE it comes from."""
    agency = {k: spec[k] for k in ("id", "name", "tier", "parent") if spec.get(k) is not None}
    mail = spec.get("mail") or {}
    if mail:
        agency["domain"] = mail["domain"]
    fields = {"id": "id", "name": "name", "tier": "tier", "parent": "parent"}
    found = [Entry("pdic_agencies", agency, "", {**fields, "domain": "mail.domain"})]
    site = spec.get("site")
    if site:
        item = {
            "name": site["name"],
            "hostname": site["hostname"],
            "agency": spec["id"],
            "title": site.get("title") or f"Cổng thông tin điện tử {spec['name']}",
        }
        names = {"name": "site.name", "hostname": "site.hostname", "title": "site.title"}
        found.append(Entry("portal_sites", item, "site", {**names, "agency": "id"}, ("title",)))
    if mail:
        domain = {"name": mail["domain"], "agency": spec["id"]}
        if mail.get("host") is not None:
            domain["host"] = mail["host"]
        names = {"name": "mail.domain", "agency": "id", "host": "mail.host"}
        found.append(Entry("mail_domains", domain, "mail", names, ()))
        default_quota = mail.get("quota") or DEFAULT_QUOTA
        boxes = mail.get("mailboxes") or []
        if isinstance(boxes, int):
            boxes = [
                {"local": f"hopthu{n}", "name": f"Hộp thư {n} - {spec['name']}"}
                for n in range(1, boxes + 1)
            ]
            where = ["mail.mailboxes"] * len(boxes)
        else:
            where = [f"mail.mailboxes[{i}]" for i in range(len(boxes))]
        for box, origin in zip(boxes, where, strict=True):
            item = {
                "address": f"{box['local']}@{mail['domain']}",
                "name": box["name"],
                "agency": spec["id"],
                "quota": box.get("quota") or default_quota,
            }
            names = {"address": f"{origin}.local", "name": f"{origin}.name"}
            quota_key = f"{origin}.quota" if box.get("quota") else "mail.quota"
            found.append(Entry("mail_mailboxes", item, origin, {**names, "quota": quota_key}))
    return found


def refusals(source: Source, spec: Mapping[str, Any], where: Path) -> list[str]:
    """What the inventory already has that the new agency may not reuse."""
    found = index(source.inventory)
    out = []
    if spec["id"] in found.agencies:
        out.append(f"{where}: id: agency {spec['id']!r} exists")
    parent = spec.get("parent")
    if parent is not None and parent not in found.agencies:
        out.append(f"{where}: parent: no agency {parent!r} in {source.inventory.path}")
    mail = spec.get("mail") or {}
    domain = str(mail.get("domain", "")).lower()
    if domain:
        used = {str(d.get("name", "")).lower() for d in _list(source, "mail_domains")}
        used |= {a.domain for a in found.agencies.values() if a.domain}
        if domain in used:
            out.append(f"{where}: mail.domain: mail domain {domain!r} is already used")
    site = spec.get("site") or {}
    if site and site["name"] in {s.get("name") for s in _list(source, "portal_sites")}:
        out.append(f"{where}: site.name: site {site['name']!r} exists")
    return out


def _list(source: Source, key: str) -> list[Mapping[str, Any]]:
    value = source.inventory.vars.get(key)
    return [i for i in value if isinstance(i, Mapping)] if isinstance(value, list) else []


# -- writing -----------------------------------------------------------------------------------


def plan(inventory: Path | str, spec_file: Path) -> Plan:
    """Every file's new text once ``spec_file``'s agency is added; validated, nothing written."""
    spec = read_spec(spec_file)
    source = read_inventory(inventory)
    found = problems(source)
    if found:
        raise InventoryError(found)
    refused = refusals(source, spec, spec_file)
    if refused:
        raise AgencyError("\n".join(refused))
    new = entries(spec)
    result = Plan(Path(inventory))
    docs: dict[str, Any] = {}
    origins: dict[tuple[str, int], Entry] = {}
    home = _place(source, "pdic_agencies")
    for entry in new:
        rel, prefix = _place(source, entry.key) if entry.key in source.inventory.vars else home
        if rel not in docs:
            docs[rel] = Document(Path(inventory), rel)
        position = docs[rel].append(prefix, entry.key, entry.item, entry.quoted)
        origins[(entry.key, position)] = entry
    for rel, doc in docs.items():
        result.texts[rel] = (doc.text, doc.dump())
    _validate(result, origins, spec_file)
    if spec.get("site"):
        result.notes.append(_certificate_note(source, str(spec["site"]["name"])))
    return result


def apply(plan_: Plan) -> list[Path]:
    """Write each changed file of ``plan_`` atomically (its mode kept); the paths written."""
    return yamledit.write(plan_.inventory, plan_.texts)


def _place(source: Source, key: str) -> tuple[str, KeyPath]:
    """The file (relative) and key path of the mapping that holds ``key`` at the all level."""
    layer = source.origin(source.all_layers, key)
    if layer is None:
        raise AgencyError(f"{source.inventory.path}: {key}: not in the inventory; add it first")
    return layer.file, layer.prefix


PROBLEM = re.compile(r"^(?P<file>[^:]+): (?P<where>[^:]+): (?P<what>.*)$")
WHERE = re.compile(r"(?:^|\.)(?P<key>\w+)\[(?P<index>\d+)\](?:\.(?P<field>\w+))?")


def _validate(result: Plan, origins: Mapping[tuple[str, int], Entry], spec_file: Path) -> None:
    """The inventory's rules over a temporary copy with the new texts; AgencyError if any fails,
    each problem of a new entry named by FILE's key."""
    found = yamledit.problems_with(result.inventory, result.texts)
    lines = []
    for line in found:
        match = PROBLEM.match(line)
        where = WHERE.search(match["where"]) if match else None
        entry = where and origins.get((where["key"], int(where["index"])))
        if match and where and entry:
            key = entry.fields.get(where["field"] or "", entry.origin or where["field"] or "")
            lines.append(f"{spec_file}: {key or '(file)'}: {match['what']}")
        else:
            lines.append(f"{spec_file}: {line}")
    if lines:
        raise AgencyError("\n".join(lines))


def _certificate_note(source: Source, site: str) -> str:
    derived = "portal_sites" in str(source.inventory.vars.get("pki_cert_group_certificates", ""))
    if derived:
        return (
            f"certificate site-{site}: issued by the centre's CA at the next deploy "
            "(pki_cert_group_certificates derives it from portal_sites)"
        )
    return (
        f"certificate site-{site}: pki_cert_group_certificates does not derive site "
        "certificates from portal_sites here: add a pki_cert entry for it"
    )
