"""What converging one agency touches: the hosts (``--limit``) and tags (``--tags``) of site.yml.

:func:`plan` reads only the inventory. An agency concerns:

- its portal sites: the ``portal`` hosts, which serve them (tag ``web``: the nginx role) and,
  for a site the centre's CA certifies, hold its certificate ``site-<name>`` (tag ``pki``: the
  pki_cert role; the CA host signs it through delegation and is not converged itself); the
  ``monitoring`` hosts, whose blackbox exporter probes each site (tag ``monitoring``: the
  targets are generated from the inventory); and the portal hosts' pdic exporter, which watches
  the site's certificate (tag ``monitoring`` too);
- its mail: the ``mail`` hosts that keep the domains of its mailboxes and aliases (tag
  ``mail``: mailboxes, aliases, the DKIM key of a new domain); a domain of its own concerns
  every mail host, since each one's transport map hands a domain's mail to the host that keeps
  it;
- its organisation certificates: the hosts that hold them, whose pdic exporter watches them
  (tag ``monitoring``);
- where the inventory names its sites in ``/etc/hosts`` (``pdic_etc_hosts_service_names``, a
  centre without DNS), those names on the hosts converged (tag ``etc_hosts``: the common role's
  two tasks);
- on every host converged, the aide role (tag ``aide``), which takes the run's own changes into
  the file integrity baseline, as a whole deploy does.

Tags cannot be narrower than a role's: the nginx role renders every site in one file, the mail
role compares all of a host's mailboxes in one helper run, the monitoring plays run all their
roles; each of them changes only what differs, so the other agencies' parts are checked and
left alone. Tags and ``--limit`` apply to the whole run, so a host converged for one reason
also runs the other tags' plays it belongs to (a portal host gets no mail play: it is not in
group mail). The other hosts' ``/etc/hosts`` keep their old names until the next whole deploy.

Retiring needs no ``pki``: the CA revokes the site's certificate (``pdic agency retire`` does it
through :mod:`pdic.pki.revoke`) and pki_cert removes nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from pdic.agency.index import Agency
from pdic.inventory import Inventory
from pdic.mail.model import domain_hosts
from pdic.pki.register import agency_hosts

# site.yml's order: common (names), pki, web, monitoring, mail, hardening (aide).
TAG_ORDER = ("etc_hosts", "pki", "web", "monitoring", "mail", "aide")


@dataclass(frozen=True)
class Converge:
    """The hosts and tags of one run of site.yml, and why each host is in it."""

    hosts: tuple[str, ...]
    tags: tuple[str, ...]
    why: dict[str, list[str]] = field(default_factory=dict)

    @property
    def limit(self) -> str:
        return ",".join(self.hosts)

    @property
    def tag_list(self) -> str:
        return ",".join(self.tags)

    def lines(self) -> list[str]:
        """One line per host: what the run does there."""
        if not self.hosts:
            return [
                "no host to converge: the inventory gives the agency no site, mail or certificate"
            ]
        out = [f"ansible-playbook playbooks/site.yml --limit {self.limit} --tags {self.tag_list}"]
        out += [f"  {host}: {'; '.join(self.why.get(host, []))}" for host in self.hosts]
        return out

    def command(self, inventory: Path) -> str:
        """The pdic command that runs the same converge (to finish one that stopped)."""
        if not self.hosts:
            return ""
        return (
            f"pdic deploy -i {shlex.quote(str(inventory))} --limit {self.limit} "
            f"--tags {self.tag_list}"
        )


def plan(inventory: Inventory, agency: Agency, *, retiring: bool = False) -> Converge:
    """The hosts and tags that converge ``agency`` (see the module's docstring)."""
    why: dict[str, list[str]] = {}
    tags: set[str] = set()

    def touch(hosts: list[str] | tuple[str, ...], tag: str, reason: str) -> None:
        if not hosts:
            return
        tags.add(tag)
        for host in hosts:
            why.setdefault(host, []).append(f"{reason} ({tag})")

    portal = inventory.groups.get("portal", ())
    monitoring = inventory.groups.get("monitoring", ())
    if agency.sites:
        names = ", ".join(str(s.get("name")) for s in agency.sites)
        verb = "stops serving" if retiring else "serves"
        touch(portal, "web", f"{verb} site {names}")
        internal = [s for s in agency.sites if not isinstance(s.get("tls"), dict)]
        if internal and not retiring:
            certs = ", ".join(f"site-{s.get('name')}" for s in internal)
            touch(portal, "pki", f"holds certificate {certs}, signed by the CA")
        touch(portal, "monitoring", "its exporter watches the site's certificate")
        verb = "stops probing" if retiring else "probes"
        touch(
            monitoring,
            "monitoring",
            f"{verb} https://{agency.sites[0].get('hostname')}/"
            + (f" and {len(agency.sites) - 1} more" if len(agency.sites) > 1 else ""),
        )
    mail_hosts = inventory.groups.get("mail", ())
    if mail_hosts:
        owners = domain_hosts(inventory.vars.get("mail_domains"), mail_hosts[0])
        own = [str(d.get("name", "")).lower() for d in agency.mail_domains]
        used = {
            str(item.get("address", "")).lower().rpartition("@")[2]
            for item in [*agency.mailboxes, *agency.aliases]
        }
        for domain in [*own, *sorted(used - set(own))]:
            keeper = owners.get(domain)
            if keeper is None:
                continue
            boxes = sum(
                str(m.get("address", "")).lower().endswith("@" + domain) for m in agency.mailboxes
            )
            if retiring:
                reason = f"archives {boxes} mailbox(es) of {domain}"
            else:
                reason = f"keeps {boxes} mailbox(es) of {domain}"
                reason += " and its DKIM key" if domain in own else ""
            touch([keeper], "mail", reason)
            if domain in own:
                others = [h for h in mail_hosts if h != keeper]
                touch(others, "mail", f"hands mail for {domain} to {keeper}")
    holders = [h for h in agency_hosts(inventory, agency.id) if h not in portal]
    touch(holders, "monitoring", "its exporter watches the agency's organisation certificates")
    if not why:
        return Converge((), ())
    hosts = tuple(h for h in inventory.hosts if h in why)
    if agency.sites and inventory.vars.get("pdic_etc_hosts_service_names") is True:
        touch(hosts, "etc_hosts", "/etc/hosts follows the inventory's site names")
    touch(hosts, "aide", "the run's changes go into the AIDE baseline")
    return Converge(hosts, tuple(t for t in TAG_ORDER if t in tags), why)
