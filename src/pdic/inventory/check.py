"""Validate an inventory against pdic's schema: one line per problem, never an exception.

Each problem is ``<file relative to the inventory>: <key.path>: <what is wrong>``, where
``key.path`` walks the YAML document of that file (``all.children.db.hosts.db-2.ansible_host``,
``mail_mailboxes[12].address``); ``(file)`` stands for the whole file and ``line N, column M``
for a YAML syntax error. Lines are sorted by file, then by their place in it.

Each domain's rules live in a module of :mod:`pdic.inventory.rules` (hosts, certificates, sites,
applications, mail, databases, monitoring, firewall, secrets, admins), the data lists declared
there as :class:`~pdic.inventory.context.ListSpec` (fields: required, validator, unique,
references); the values' patterns and validators are :mod:`pdic.inventory.values`, shared
with the roles' preflight. The rules:

Structure
  - Every file Ansible reads from the inventory directory can be read the same way (see
    :mod:`pdic.inventory.loader`: YAML syntax, no duplicate key, no alias bomb, top-level
    mapping, no link that leads nowhere); otherwise that is the only problem reported.
  - A group holds only ``hosts``, ``vars`` and ``children``, each a mapping; a host's inline
    variables are a mapping.
  - Every group_vars/<name> names a group of hosts.yml, every host_vars/<name> a host.

Groups
  - The service groups portal, eoffice, hcc, mail, db, backup, pki and monitoring all exist
    and each has at least one host.
  - No other group exists unless listed in ``pdic_extra_groups`` (a list of group names).
  - Every host is in at least one group.

Hosts
  - A host's name is an RFC 1123 label (letters, digits, inner hyphens; at most 63).
  - ``ansible_host`` is set, is an IPv4 or IPv6 address, lies inside ``pdic_network`` and is
    neither its network nor its broadcast address.
  - No two hosts share an address; a host listed in several places never has different
    ``ansible_host`` values there.
  - ``ansible_port``, where set, is a whole number 1..65535.
  - ``postgresql_role``, where set, is ``primary`` or ``replica``; at most one host is primary.
  - ``pdic_certificate_files``, wherever set (all, a group, a host), is a list of absolute
    paths or shell globs (letters, digits, ``. _ / - + @ :`` and ``* ? [ ]``): the certificate
    files ``pdic cert list`` and the pdic exporter read besides pki_cert's own. An entry may
    be a mapping of ``path`` (such a path or glob) and ``agency`` (an id in pdic_agencies): an
    organisation certificate and the agency that owns it (both keys required, no other).

All-level variables (hosts.yml ``all.vars`` or group_vars/all)
  - Required: ``pdic_env`` (a slug), ``pdic_domain`` (a DNS name), ``pdic_network`` (an
    IPv4/IPv6 network in CIDR notation, no host bits set), ``pdic_ops_user`` (a unix user
    name, not root), ``pdic_timezone`` (an IANA time zone such as Asia/Ho_Chi_Minh).

Province data (each list optional; where present it lives at the all level, not in the
variables of a group or host). Every item is a mapping; an item key not listed below is an
error naming it (catches typos such as ``hostnmae``); required keys must be present and not
empty. Names are compared case-insensitively where DNS or mail is concerned.

  ``pdic_agencies``: the province's organisations (e-office participants).
    id (required): slug, unique; name (required): display name (Vietnamese);
    tier (required): province | district | commune; parent: id of an existing agency of the
    same or a higher tier, required for communes, never the agency itself or a loop;
    domain: the agency's mail domain, a DNS name declared in ``mail_domains``.
  ``portal_sites``: the component portals.
    name (required): slug, unique; hostname (required): DNS name, unique;
    agency (required): id in pdic_agencies; title (required): text;
    tls: the certificate source, ``internal`` (the centre's CA; the default) or a mapping of
    ``certificate`` and ``key``, both absolute paths; rate_limit: requests per client address
    as nginx writes it, a whole number > 0 and ``r/s`` or ``r/m`` (``20r/s``); rate_burst: a
    whole number >= 0; body_size: an nginx size, a whole number and optionally k, m or g
    (``1m``; no ``B``/``MB``); maintenance: true or false.
  ``pdic_applications``: the applications of the service hosts, with versioned artifacts, run
    by role app_service (playbooks/apps.yml) behind nginx on the hosts of their group.
    name (required): slug of at most 24 characters, unique, not also a portal site's name; group
    (required): a group of hosts.yml none of whose hosts is in group portal; hostname
    (required): DNS name, unique, not also a portal site's; port (required): 1024..65535, not
    9100 or 9469, not taken by another application of the same group, nor by the mail services
    of a host the group shares with group mail; version (required): one of its artifacts'
    versions; artifacts (required): non-empty list of version (required, unique), source
    (required: a path on the controller, relative to the project, or an http(s):// URL) and
    sha256 (required: 64 hexadecimal digits); title: text; database and db_role (together or
    not at all): a database of postgresql_databases and a role of postgresql_roles that lists
    that database and the application's group; environment: a mapping of environment variable
    names (A-Z, 0-9, _; not PDIC_APP_* or the few the unit sets) to texts or numbers; secrets: a
    mapping of environment variable names to secrets declared in pdic_secrets; backup: keep (a
    whole number >= 1, default 7) and on_calendar (a systemd calendar event, default daily).
  ``mail_domains``: name (required): DNS name, unique; agency (required): id in pdic_agencies;
    host: the host of group ``mail`` that keeps the domain's mailboxes (default: the first).
  ``mail_mailboxes``:
    address (required): ``local@domain``, lowercase, unique, its domain in mail_domains;
    name (required): display name; agency (required): id in pdic_agencies;
    quota (required): a whole number > 0 and one unit K, M, G or T (binary multiples, as
    Dovecot reads them: ``500M``, ``2G``); no ``B``/``iB`` suffix, no decimals, no spaces;
    state: active (default) | disabled.
  ``mail_aliases``: distribution lists and aliases.
    address (required): as for mailboxes, unique, not also a mailbox;
    to (required): non-empty list of addresses; an address in a declared mail domain must be a
    mailbox or an alias, others are external; aliases must not loop;
    agency: id in pdic_agencies; description: text.
  ``postgresql_roles``: name (required): SQL identifier, unique, not ``postgres`` or ``pg_*``;
    groups: list of inventory groups whose hosts may connect as this role, required (not
    empty) unless the role owns a database; databases: list of databases of
    postgresql_databases it reads and writes; description: text.
  ``postgresql_databases``: name (required): SQL identifier, unique, not ``postgres`` or
    ``template0/1``; owner (required): a role of postgresql_roles; description: text.

Names
  ``pdic_etc_hosts_service_names``: true or false.

Monitoring (the roles of playbooks/monitoring.yml; checked wherever they are set: all level,
group or host)
  - ``prometheus_scrape_interval``, ``prometheus_evaluation_interval``,
    ``prometheus_retention_time``, ``alertmanager_group_wait``, ``alertmanager_group_interval``,
    ``alertmanager_repeat_interval``, ``alertmanager_watchdog_repeat_interval``,
    ``blackbox_exporter_timeout``: a Prometheus duration
    greater than zero (``5s``, ``1m30s``, ``15d``: whole numbers with ms, s, m, h, d, w or y,
    largest unit first).
  - ``alertmanager_receivers``: name (required): slug, unique; email_to (required): non-empty
    list of mail addresses.
  - ``alertmanager_teams``: name (required): one of the alert rules' teams (platform, web,
    database, mail, security), unique; receiver (required): a name in alertmanager_receivers.
  - ``alertmanager_default_receiver``: a name in alertmanager_receivers.
  - ``alertmanager_watchdog_receiver``: empty or a name in alertmanager_receivers.
  - ``grafana_enabled``: true or false.
  Without an ``alertmanager_receivers`` list the role's default receiver ``oncall`` is known.
Hardening (roles hardening and firewall; a value with a Jinja expression is taken as written)
  ``firewall_rules``, ``firewall_group_rules``, ``firewall_host_rules`` (at any level): lists of
    allow-list rules. name (required): text; ports (required): non-empty list of whole numbers
    1..65535; proto: tcp | udp; on: list of groups that open the ports; from_groups: list of
    groups that may connect; from_networks: list of IPv4/IPv6 addresses or CIDR networks (no
    host bits set); from_groups or from_networks (at least one). A group is ``all`` or a
    group of hosts.yml.
  ``hardening_log_server``: a host of the inventory.
Databases and backups (roles postgresql and pgbackrest; at any level, Jinja taken as written)
  ``pgbackrest_retention_full``, ``pgbackrest_retention_diff``: a whole number >= 1 (backups
    kept; 0 would keep none). ``postgresql_allow_restart``: true or false.
  ``pdic_secrets`` (all level): the secrets ``pdic secrets ensure`` keeps in the inventory's
    vault file; each item: name (required): a variable name, unique; length: a whole number
    16..256 (default 32), even with ``format: hex``; format: alnum (letters and digits, the
    default) or hex.
Administrators (role ssh_hardening)
  ``pdic_admins`` (all level only, never a group's or a host's): the people who log in over SSH
    with their own key and a TOTP code. name (required): a unix user name, unique, not root and
    not ``pdic_ops_user``; full_name: text; authorized_keys: list of OpenSSH public keys (type,
    base64 key naming the same type, optional comment; no options); authorized_key_files: list
    of absolute paths of public key files on the controller; at least one key between the two;
    totp_secret (required): the name of a secret of ``pdic_secrets`` declared with
    ``format: hex`` and a length of 32..64 (the hex key pam_oath reads, 16..32 bytes).

Not checked: values of vault-encrypted files, Jinja expressions (taken literally), whether
hosts are reachable.
"""

from __future__ import annotations

from pathlib import Path

from pdic.errors import InventoryError
from pdic.inventory.context import Context
from pdic.inventory.loader import Source, read_inventory
from pdic.inventory.model import Inventory
from pdic.inventory.rules import RULES


def check_inventory(path: Path | str) -> list[str]:
    """One line per problem (``file: key.path: what is wrong``); empty if the inventory is valid.

    An inventory that cannot be read at all gives a one-line list; this never raises.
    """
    try:
        source = read_inventory(path)
    except InventoryError as exc:
        return exc.problems
    return problems(source)


def load_valid_inventory(path: Path | str) -> Inventory:
    """The inventory at ``path``, read once; InventoryError with every problem if it is invalid."""
    source = read_inventory(path)
    found = problems(source)
    if found:
        raise InventoryError(found)
    return source.inventory


def problems(source: Source) -> list[str]:
    """Every rule of :data:`pdic.inventory.rules.RULES` applied to ``source``, one line each."""
    ctx = Context(source)
    for rule in RULES:
        rule(ctx)
    unique = {(p.file, p.where, p.message): p for p in ctx.problems}
    return [str(p) for p in sorted(unique.values(), key=lambda p: p.sort_key)]
