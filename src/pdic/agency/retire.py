"""``pdic agency retire ID [--merge-into OTHER]``: an agency out of the inventory and the hosts.

What retiring does, shown first (:meth:`Retirement.lines`) and done only with ``--yes``:

- the inventory loses the agency (``pdic_agencies``), its portal sites (``portal_sites``: nginx
  stops serving them, their probes and targets go), its mailboxes (``mail_mailboxes``: the mail
  role's helper moves each one's mail under the host's archive directory, ``mail_archive_dir``,
  never deleting it, and the address can no longer log in) and the ``pdic_certificate_files``
  entries that name it (organisation certificates: the national CA revokes those, not pdic);
- without ``--merge-into``: its own mail domains and aliases are removed too, and its addresses
  are taken out of the recipients of other agencies' aliases;
- with ``--merge-into OTHER``: each of its mailbox addresses becomes an alias of OTHER, to
  OTHER's mailbox of the same local part in OTHER's domain where there is one, else to OTHER's
  first mailbox (the agency's văn thư, by the inventory's convention); its own domains and
  aliases pass to OTHER, so every address it had still receives mail;
- the centre's CA revokes the certificate of each of its sites on each portal host (reason
  cessationOfOperation), through :mod:`pdic.pki.revoke`;
- the hosts concerned converge (:mod:`pdic.agency.converge`).

The files are edited as ``add`` edits them (:mod:`pdic.agency.yamledit`), so adding an agency
and retiring it gives back the inventory byte for byte. The resulting inventory passes
``pdic inventory check``'s rules before anything is written. Refused, one line each naming the
file and key, nothing written: an unknown agency, a merge into itself or into an unknown
agency, an agency that others name as their parent, and, without ``--merge-into``, a mail
domain of the agency that others still use, an alias of another agency left with no recipient,
or an Alertmanager receiver that mails one of its addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdic.agency import yamledit
from pdic.agency.converge import Converge
from pdic.agency.converge import plan as converge_plan
from pdic.agency.index import Agency, index
from pdic.errors import AgencyError, InventoryError
from pdic.inventory.check import problems
from pdic.inventory.loader import KeyPath, Layer, Source, read_inventory

REASON = "cessationOfOperation"
DEFAULT_ARCHIVE_DIR = "/var/vmail-archive"  # the mail role's mail_archive_dir


@dataclass(frozen=True)
class _Edit:
    """One change to a list of one inventory file."""

    file: str
    prefix: KeyPath
    key: str
    kind: str  # "set", "drop" (an item of a nested list), "remove", "append"
    index: int = -1
    field: str = ""
    value: Any = None


@dataclass
class Retirement:
    """What retiring one agency writes, revokes and converges, and the same in words."""

    inventory: Path
    agency: Agency
    into: Agency | None
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    revocations: list[str] = field(default_factory=list)
    converge: Converge = field(default_factory=lambda: Converge((), ()))
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        merged = f", merged into {self.into.id} ({self.into.name})" if self.into else ""
        out = [f"retire {self.agency.id} ({self.agency.name}){merged}:"]
        files = ", ".join(rel for rel, (old, new) in self.texts.items() if old != new)
        out.append(f"1. the inventory ({files}):")
        out += [f"   {line}" for line in self.changes]
        if self.revocations:
            out.append(f"2. the CA revokes ({REASON}): {', '.join(self.revocations)}")
        else:
            out.append("2. no certificate of the centre's CA to revoke")
        out.append("3. the hosts concerned converge:")
        out += [f"   {line}" for line in self.converge.lines()]
        out += [f"note: {line}" for line in self.notes]
        return out

    def diff(self) -> str:
        return yamledit.diff(self.texts)


def _items(source: Source, key: str) -> tuple[list[Mapping[str, Any]], Layer | None]:
    layer = source.origin(source.all_layers, key)
    value = layer.data[key] if layer is not None else None
    return (list(value) if isinstance(value, list) else []), layer


def _where(layer: Layer | None, key: str) -> str:
    return f"{layer.file}: {key}" if layer is not None else key


def _address(item: Mapping[str, Any]) -> str:
    return str(item.get("address", "")).lower()


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def plan(inventory: Path | str, agency_id: str, merge_into: str | None = None) -> Retirement:
    """Everything retiring ``agency_id`` does, checked; AgencyError (one line per problem)
    when it is refused. Nothing is written."""
    root = Path(inventory)
    source = read_inventory(root)
    found_problems = problems(source)
    if found_problems:
        raise InventoryError(found_problems)
    found = index(source.inventory)
    agencies, agencies_layer = _items(source, "pdic_agencies")
    where = _where(agencies_layer, "pdic_agencies")
    refused = []
    agency = found.agencies.get(agency_id)
    if agency is None:
        raise AgencyError(f"{where}: no agency {agency_id!r} (pdic agency list names them)")
    into = None
    if merge_into is not None:
        if merge_into == agency_id:
            refused.append(f"--merge-into: {merge_into!r} is the agency being retired")
        elif merge_into not in found.agencies:
            refused.append(f"{where}: no agency {merge_into!r} to merge into")
        else:
            into = found.agencies[merge_into]
    for i, item in enumerate(agencies):
        if isinstance(item, Mapping) and item.get("parent") == agency_id:
            refused.append(
                f"{where}[{i}].parent: agency {item.get('id')!r} names {agency_id!r} as its "
                "parent: retire it or give it another parent first"
            )
    retirement = Retirement(root, agency, into)
    edits = _edits(source, agency, into, retirement, refused)
    if refused:
        raise AgencyError("\n".join(refused))
    retirement.texts = _apply_edits(root, edits)
    after = yamledit.problems_with(root, retirement.texts)
    if after:
        raise AgencyError("\n".join(f"once {agency_id} is retired: {line}" for line in after))
    portal = source.inventory.groups.get("portal", ())
    for site in agency.sites:
        if not isinstance(site.get("tls"), Mapping):
            retirement.revocations += [f"{host}:site-{site.get('name')}" for host in portal]
    retirement.converge = converge_plan(source.inventory, agency, retiring=True)
    return retirement


def _edits(
    source: Source,
    agency: Agency,
    into: Agency | None,
    retirement: Retirement,
    refused: list[str],
) -> list[_Edit]:
    """The edits retiring ``agency`` makes; ``retirement.changes`` says each in words and
    ``refused`` gathers what stops it."""
    edits: list[_Edit] = []
    say = retirement.changes.append
    inv = source.inventory

    def remove(key: str, match: Any) -> None:
        items, layer = _items(source, key)
        for i, item in enumerate(items):
            if layer is not None and isinstance(item, Mapping) and match(item):
                edits.append(_Edit(layer.file, layer.prefix, key, "remove", i))

    remove("pdic_agencies", lambda a: a.get("id") == agency.id)
    say(f"pdic_agencies: {agency.id} removed")
    remove("portal_sites", lambda s: s.get("agency") == agency.id)
    for site in agency.sites:
        say(
            f"portal_sites: {site.get('name')} removed: the portal hosts stop serving "
            f"https://{site.get('hostname')}/, its probe and scrape targets go"
        )

    mail = inv.groups.get("mail", ())
    owners: dict[str, str] = {}
    if mail:
        from pdic.mail.model import domain_hosts

        owners = domain_hosts(inv.vars.get("mail_domains"), mail[0])
    boxes = [_address(m) for m in agency.mailboxes]
    own_aliases = {_address(a) for a in agency.aliases}
    own_domains = [str(d.get("name", "")).lower() for d in agency.mail_domains]
    leaving = set(boxes) | (set() if into else own_aliases)
    archive: dict[str, list[str]] = {}
    for address in boxes:
        archive.setdefault(owners.get(_domain(address), "?"), []).append(address)
    for host, addresses in archive.items():
        directory = DEFAULT_ARCHIVE_DIR
        if host in inv.hosts:
            directory = str(inv.hosts[host].get("mail_archive_dir") or DEFAULT_ARCHIVE_DIR)
        say(
            f"mail_mailboxes: {len(addresses)} removed ({', '.join(addresses)}): their mail is "
            f"archived on {host} under {directory}, never deleted, and they can no longer log in"
        )
    remove("mail_mailboxes", lambda m: m.get("agency") == agency.id)

    if into is not None:
        _merge(source, agency, into, edits, say, refused)
    else:
        _drop_mail(source, agency, edits, say, refused, own_domains, leaving)
        _receivers(source, agency, leaving, refused)

    for layer, i, entry in _organisation_entries(source, agency.id):
        edits.append(_Edit(layer.file, layer.prefix, "pdic_certificate_files", "remove", i))
        say(
            f"pdic_certificate_files ({layer.file}): {entry.get('path')} no longer watched "
            "(the files stay on the hosts)"
        )
        retirement.notes.append(
            f"organisation certificate {entry.get('path')}: the national CA issued it; ask it "
            f"to revoke it ({agency.name})"
        )
    return edits


def _owned(source: Source, key: str, agency_id: str) -> list[tuple[Layer, int, Mapping[str, Any]]]:
    """The items of the all-level list ``key`` whose ``agency`` is ``agency_id``."""
    items, layer = _items(source, key)
    if layer is None:
        return []
    return [
        (layer, i, item)
        for i, item in enumerate(items)
        if isinstance(item, Mapping) and item.get("agency") == agency_id
    ]


def _merge(
    source: Source,
    agency: Agency,
    into: Agency,
    edits: list[_Edit],
    say: Any,
    refused: list[str],
) -> None:
    """The agency's addresses become aliases of ``into``; its domains and aliases pass to it."""
    for key, what, why in (
        ("mail_domains", "name", " (kept on its host, so the old addresses still receive)"),
        ("mail_aliases", "address", ""),
    ):
        for layer, i, item in _owned(source, key, agency.id):
            edits.append(_Edit(layer.file, layer.prefix, key, "set", i, "agency", into.id))
            say(f"{key}: {item.get(what)} passes to {into.id}{why}")
    if not agency.mailboxes:
        return
    target = _targets(into)
    if target is None:
        refused.append(
            f"--merge-into: agency {into.id!r} has no mailbox to receive the addresses of "
            f"{agency.id!r}: give it one first"
        )
        return
    # A new mail_aliases list goes beside mail_mailboxes (which has the agency's mailboxes).
    home = source.origin(source.all_layers, "mail_aliases") or source.origin(
        source.all_layers, "mail_mailboxes"
    )
    assert home is not None
    description = f"Địa chỉ của {agency.name} (sáp nhập vào {into.name})"
    for box in agency.mailboxes:
        address = _address(box)
        alias = {"address": address, "to": [target(address)], "agency": into.id}
        alias["description"] = description
        edits.append(_Edit(home.file, home.prefix, "mail_aliases", "append", value=alias))
        say(f"mail_aliases: {address} -> {alias['to'][0]} (of {into.id})")


def _targets(into: Agency) -> Any:
    """address -> where it goes in ``into``: the same local part in its domain if that is one
    of its mailboxes or aliases, else its first active mailbox (its văn thư); None if it has
    no mailbox."""
    boxes = [_address(m) for m in into.mailboxes]
    active = [_address(m) for m in into.mailboxes if (m.get("state") or "active") == "active"]
    if not boxes:
        return None
    first = (active or boxes)[0]
    known = set(boxes) | {_address(a) for a in into.aliases}
    domain = (into.domain or _domain(first)).lower()

    def target(address: str) -> str:
        same = f"{address.partition('@')[0]}@{domain}"
        return same if same in known else str(first)

    return target


def _drop_mail(
    source: Source,
    agency: Agency,
    edits: list[_Edit],
    say: Any,
    refused: list[str],
    own_domains: list[str],
    leaving: set[str],
) -> None:
    """Without a merge: the agency's domains and aliases go, and its addresses leave the
    recipients of the others' aliases; refused where others still need them."""
    mailboxes, boxes_layer = _items(source, "mail_mailboxes")
    agencies, agencies_layer = _items(source, "pdic_agencies")
    mine = set(own_domains)
    for i, box in enumerate(mailboxes):
        if (
            isinstance(box, Mapping)
            and box.get("agency") != agency.id
            and _domain(_address(box)) in mine
        ):
            refused.append(
                f"{_where(boxes_layer, 'mail_mailboxes')}[{i}].address: {box.get('address')!r} of "
                f"agency {box.get('agency')!r} is in {_domain(_address(box))!r}, a mail domain "
                f"retiring {agency.id!r} removes: use --merge-into or move it first"
            )
    for i, other in enumerate(agencies):
        if (
            isinstance(other, Mapping)
            and other.get("id") != agency.id
            and str(other.get("domain") or "").lower() in mine
        ):
            refused.append(
                f"{_where(agencies_layer, 'pdic_agencies')}[{i}].domain: agency "
                f"{other.get('id')!r} names {other.get('domain')!r}, a mail domain retiring "
                f"{agency.id!r} removes: use --merge-into or change it first"
            )
    for layer, i, item in _owned(source, "mail_domains", agency.id):
        edits.append(_Edit(layer.file, layer.prefix, "mail_domains", "remove", i))
        say(f"mail_domains: {item.get('name')} removed (its DKIM key stays on its host)")
    aliases, aliases_layer = _items(source, "mail_aliases")
    where = _where(aliases_layer, "mail_aliases")
    for i, alias in enumerate(aliases):
        if not isinstance(alias, Mapping):
            continue
        address = _address(alias)
        ours = alias.get("agency") == agency.id or (
            alias.get("agency") is None and _domain(address) in mine
        )
        if ours:
            assert aliases_layer is not None
            edits.append(
                _Edit(aliases_layer.file, aliases_layer.prefix, "mail_aliases", "remove", i)
            )
            say(f"mail_aliases: {alias.get('address')} removed")
            continue
        if _domain(address) in mine:
            refused.append(
                f"{where}[{i}].address: {alias.get('address')!r} of agency {alias.get('agency')!r} "
                f"is in a mail domain retiring {agency.id!r} removes: use --merge-into or move it "
                "first"
            )
            continue
        to = [str(t).lower() for t in alias.get("to") or []]
        dropped = [j for j, t in enumerate(to) if t in leaving]
        if not dropped:
            continue
        if len(dropped) == len(to):
            refused.append(
                f"{where}[{i}].to: every recipient of {alias.get('address')!r} is an address of "
                f"{agency.id!r}: give it another recipient first or use --merge-into"
            )
            continue
        assert aliases_layer is not None
        prefix = (*aliases_layer.prefix, "mail_aliases", i)
        edits += [_Edit(aliases_layer.file, prefix, "to", "drop", j) for j in dropped]
        gone = ", ".join(to[j] for j in dropped)
        say(f"mail_aliases: {alias.get('address')} no longer sends to {gone}")


def _receivers(source: Source, agency: Agency, leaving: set[str], refused: list[str]) -> None:
    """Alertmanager must not mail an address that retiring the agency removes."""
    receivers, layer = _items(source, "alertmanager_receivers")
    for i, receiver in enumerate(receivers):
        if not isinstance(receiver, Mapping):
            continue
        for j, address in enumerate(receiver.get("email_to") or []):
            if str(address).lower() in leaving:
                refused.append(
                    f"{_where(layer, 'alertmanager_receivers')}[{i}].email_to[{j}]: {address!r} is "
                    f"an address of {agency.id!r}, which retiring it removes: use --merge-into "
                    "or change the receiver first"
                )


def _organisation_entries(
    source: Source, agency_id: str
) -> list[tuple[Layer, int, Mapping[str, Any]]]:
    """Each ``pdic_certificate_files`` entry that names ``agency_id``, with its layer."""
    seen: set[tuple[str, KeyPath]] = set()
    layers = [*source.all_layers]
    for group_layers in source.group_layers.values():
        layers += group_layers
    for host_layers in source.host_layers.values():
        layers += host_layers
    out = []
    for layer in layers:
        value = (
            layer.data.get("pdic_certificate_files") if isinstance(layer.data, Mapping) else None
        )
        if not isinstance(value, list) or (layer.file, layer.prefix) in seen:
            continue
        seen.add((layer.file, layer.prefix))
        for i, entry in enumerate(value):
            if isinstance(entry, Mapping) and entry.get("agency") == agency_id:
                out.append((layer, i, entry))
    return out


def _apply_edits(root: Path, edits: list[_Edit]) -> dict[str, tuple[str, str]]:
    """The new text of each file the edits touch: fields set first, then items of nested
    lists dropped and items removed (last first, so the others keep their index), then the
    new items appended."""
    docs: dict[str, yamledit.Document] = {}
    for edit in edits:
        if edit.file not in docs:
            docs[edit.file] = yamledit.Document(root, edit.file)
    order = {"set": 0, "drop": 1, "remove": 2, "append": 3}
    ranked = sorted(
        enumerate(edits),
        key=lambda e: (order[e[1].kind], -e[1].index if e[1].kind in ("drop", "remove") else e[0]),
    )
    for _, edit in ranked:
        doc = docs[edit.file]
        if edit.kind == "set":
            doc.set(edit.prefix, edit.key, edit.index, edit.field, edit.value)
        elif edit.kind in ("drop", "remove"):
            doc.remove(edit.prefix, edit.key, edit.index)
        else:
            doc.append(edit.prefix, edit.key, edit.value, ("description",))
    return {rel: (doc.text, doc.dump()) for rel, doc in docs.items()}


def write(retirement: Retirement) -> list[Path]:
    """Write the retirement's inventory files (each atomically); the paths written."""
    return yamledit.write(retirement.inventory, retirement.texts)


class RetireIncomplete(Exception):
    """A step failed (or Ctrl-C) once the inventory was written: what ran, and the commands
    that finish it.

    Not bad input (the CLI prints its lines with exit code 1, 130 when interrupted): the
    inventory no longer holds the agency, so its retirement is finished by the commands given,
    not by running it again.
    """

    def __init__(self, lines: list[str], interrupted: bool = False) -> None:
        self.lines = lines
        self.interrupted = interrupted
        super().__init__("\n".join(lines))


@dataclass
class Outcome:
    """What a retirement did: the files written, the revocations, the converge's result."""

    written: list[Path] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    converged: Any = None


def execute(
    retirement: Retirement,
    *,
    revoke: Any,
    converge: Any,
    say: Any = lambda line: None,
) -> Outcome:
    """Write the inventory, revoke the certificates, converge the hosts, in that order.

    ``revoke(inventory, target, reason)`` revokes one ``HOST:NAME`` (a
    :class:`~pdic.pki.revoke.Revocation`, or raises); ``converge(inventory, converge)`` runs the
    converge on the new inventory and returns a result with ``success``. The first step that
    fails, or Ctrl-C, stops the rest: :class:`RetireIncomplete` says which steps ran and how to
    finish. Nothing is undone: the inventory written is the state to reach.
    """
    from pdic.inventory import load_valid_inventory

    outcome = Outcome()
    done: list[str] = []
    finish_converge = retirement.converge.command(retirement.inventory)

    def finish(revocations: list[str]) -> list[str]:
        lines = [
            f"to finish: pdic cert revoke {t} --reason {REASON} -i {retirement.inventory}"
            for t in revocations
        ]
        if finish_converge:
            lines.append(f"{'then' if lines else 'to finish'}: {finish_converge}")
        return lines

    outcome.written = write(retirement)
    done.append(f"done: the inventory written ({', '.join(map(str, outcome.written))})")
    say(done[-1])
    inventory = load_valid_inventory(retirement.inventory)
    step = "revoking"
    left = list(retirement.revocations)
    try:
        for target in retirement.revocations:
            step = f"revoking {target}"
            try:
                revocation = revoke(inventory, target, REASON)
            except Exception as exc:  # reported with the commands that finish the retirement
                why = " ".join(str(exc).split()) or type(exc).__name__
                raise RetireIncomplete([*done, f"not done: {step}: {why}", *finish(left)]) from None
            left.remove(target)
            serial = getattr(revocation, "serial", "?")
            already = " (already revoked)" if getattr(revocation, "already", False) else ""
            outcome.revoked.append(target)
            done.append(f"done: {target} revoked, serial {serial}{already}; the CRL is published")
            say(done[-1])
        if not retirement.converge.hosts:
            return outcome
        step = f"the converge of {retirement.converge.limit}"
        result = converge(inventory, retirement.converge)
    except KeyboardInterrupt:
        raise RetireIncomplete(
            [*done, f"interrupted: {step} (it may have run in part)", *finish(left)],
            interrupted=True,
        ) from None
    outcome.converged = result
    if not getattr(result, "success", False):
        raise RetireIncomplete([*done, f"not done: {step} failed (recap above)", *finish([])])
    done.append(f"done: {retirement.converge.limit} converged")
    say(done[-1])
    return outcome
