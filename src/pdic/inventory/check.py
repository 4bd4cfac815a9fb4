"""Validate an inventory against pdic's schema: one line per problem, never an exception.

Each problem is ``<file relative to the inventory>: <key.path>: <what is wrong>``, where
``key.path`` walks the YAML document of that file (``all.children.db.hosts.db-2.ansible_host``,
``mail_mailboxes[12].address``); ``(file)`` stands for the whole file and ``line N, column M``
for a YAML syntax error. Lines are sorted by file, then by their place in it.

Rules, in the order of this module:

Structure
  - hosts.yml, the group_vars/ and host_vars/ files can be read (YAML syntax, top-level
    mapping); otherwise that is the only problem reported.
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
  - ``postgresql_role``, where set, is ``primary`` or ``replica``; at most one host is primary.
  - ``pdic_certificate_files``, wherever set (all, a group, a host), is a list of absolute
    paths or shell globs (letters, digits, ``. _ / - + @ :`` and ``* ? [ ]``): the certificate
    files ``pdic cert list`` and the pdic exporter read besides pki_cert's own.

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
    ``alertmanager_repeat_interval``, ``blackbox_exporter_timeout``: a Prometheus duration
    greater than zero (``5s``, ``1m30s``, ``15d``: whole numbers with ms, s, m, h, d, w or y,
    largest unit first).
  - ``alertmanager_receivers``: name (required): slug, unique; email_to (required): non-empty
    list of mail addresses.
  - ``alertmanager_teams``: name (required): one of the alert rules' teams (platform, web,
    database, mail, security), unique; receiver (required): a name in alertmanager_receivers.
  - ``alertmanager_default_receiver``: a name in alertmanager_receivers.
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
    16..256 (default 32).

Not checked: values of vault-encrypted files, Jinja expressions (taken literally), whether
hosts are reachable.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pdic.app.names import ENV_PREFIX, GROUP_PORTS, MAX_NAME, RESERVED_ENV, RESERVED_PORTS
from pdic.errors import InventoryError
from pdic.inventory.loader import NOT_A_POSITION, KeyPath, Layer, Problem, Source, read_inventory
from pdic.inventory.model import Inventory

KNOWN_GROUPS = ("portal", "eoffice", "hcc", "mail", "db", "backup", "pki", "monitoring")
REQUIRED_VARS = ("pdic_env", "pdic_domain", "pdic_network", "pdic_ops_user", "pdic_timezone")
DATA_KEYS = (
    "pdic_agencies",
    "portal_sites",
    "pdic_applications",
    "mail_domains",
    "mail_mailboxes",
    "mail_aliases",
    "postgresql_roles",
    "postgresql_databases",
)
TIERS = ("province", "district", "commune")
MAILBOX_STATES = ("active", "disabled")
POSTGRESQL_ROLES = ("primary", "replica")
FIREWALL_KEYS = ("firewall_rules", "firewall_group_rules", "firewall_host_rules")
FIREWALL_PROTOCOLS = ("tcp", "udp")
RESERVED_DATABASES = ("postgres", "template0", "template1")
RETENTION_KEYS = ("pgbackrest_retention_full", "pgbackrest_retention_diff")

SHOWN_VALUE = 60
"""A quoted value in a message is shortened beyond this many characters."""
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
GROUP_NAME = re.compile(r"[a-z][a-z0-9_]*")
SQL_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
VARIABLE = re.compile(r"[a-z_][a-z0-9_]*")
UNIX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
LOCAL_PART = re.compile(r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?")
QUOTA = re.compile(r"(?P<number>[0-9]+)(?P<unit>[A-Za-z]+)")
QUOTA_UNITS = ("K", "M", "G", "T")
RATE = re.compile(r"[1-9][0-9]*r/[sm]")
NGINX_SIZE = re.compile(r"[0-9]+[kKmMgG]?")
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
ON_CALENDAR = re.compile(
    r"minutely|hourly|daily|weekly|monthly|quarterly|semiannually|yearly|annually"
    r"|(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[A-Za-z.,]* )?[0-9*:,./~-]+(?: [0-9*:,./~-]+)*"
)
CERT_GLOB = re.compile(r"/[A-Za-z0-9._/*?\[\]+@:-]*")
DURATION = re.compile(
    r"(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?(?:[0-9]+ms)?"
)
DURATION_KEYS = (
    "prometheus_scrape_interval",
    "prometheus_evaluation_interval",
    "prometheus_retention_time",
    "prometheus_rule_for_max",
    "alertmanager_group_wait",
    "alertmanager_group_interval",
    "alertmanager_repeat_interval",
    "blackbox_exporter_timeout",
)
ALERT_TEAMS = ("platform", "web", "database", "mail", "security")
DEFAULT_RECEIVERS = ("oncall",)

Validator = Callable[[Any], str | None]


def check_inventory(path: Path | str) -> list[str]:
    """One line per problem (``file: key.path: what is wrong``); empty if the inventory is valid.

    An inventory that cannot be read at all gives a one-line list; this never raises.
    """
    try:
        source = read_inventory(path)
    except InventoryError as exc:
        return exc.problems
    return _problems(source)


def load_valid_inventory(path: Path | str) -> Inventory:
    """The inventory at ``path``, read once; InventoryError with every problem if it is invalid."""
    source = read_inventory(path)
    problems = _problems(source)
    if problems:
        raise InventoryError(problems)
    return source.inventory


def _problems(source: Source) -> list[str]:
    checker = _Checker(source)
    checker.run()
    unique = {(p.file, p.where, p.message): p for p in checker.problems}
    return [str(p) for p in sorted(unique.values(), key=lambda p: p.sort_key)]


# -- value validators: None if the value is right, else what is wrong with it ----------------


def text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else f"{value!r} is not a text"


def slug(value: Any) -> str | None:
    if isinstance(value, str) and SLUG.fullmatch(value):
        return None
    return f"{value!r} is not a slug (lowercase letters, digits and inner hyphens)"


def host_label(value: Any) -> str | None:
    if isinstance(value, str) and LABEL.fullmatch(value):
        return None
    return (
        f"{value!r} is not a valid host name "
        "(RFC 1123 label: letters, digits and inner hyphens, at most 63)"
    )


def application_name(value: Any) -> str | None:
    problem = slug(value)
    if problem is None and len(value) > MAX_NAME:
        return f"{value!r} is longer than {MAX_NAME} characters (it names the user pdicapp-NAME)"
    return problem


def env_name(value: Any) -> str | None:
    if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
        return f"{value!r} is not an environment variable name (A-Z, 0-9 and _)"
    if value.startswith(ENV_PREFIX) or value in RESERVED_ENV:
        return f"{value!r} is set by pdic itself ({ENV_PREFIX}*, {', '.join(RESERVED_ENV)})"
    return None


def dns_name(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= 253:
        labels = value.split(".")
        valid = len(labels) >= 2 and all(DNS_LABEL.fullmatch(x) for x in labels)
        if valid and not labels[-1].isdigit():
            return None
    return f"{value!r} is not a valid DNS name (lowercase labels of letters, digits, hyphens)"


def mail_address(value: Any) -> str | None:
    if isinstance(value, str) and value.count("@") == 1:
        local, domain = value.split("@")
        if LOCAL_PART.fullmatch(local) and ".." not in local and dns_name(domain) is None:
            return None
    return f"{value!r} is not a valid mail address (lowercase local@domain)"


def sql_identifier(value: Any) -> str | None:
    if isinstance(value, str) and SQL_IDENTIFIER.fullmatch(value):
        return None
    return f"{value!r} is not an SQL identifier (lowercase letters, digits, _; at most 63)"


def unix_user(value: Any) -> str | None:
    if not isinstance(value, str) or not UNIX_USER.fullmatch(value):
        return f"{value!r} is not a unix user name (lowercase letters, digits, _ and -)"
    return "must not be root" if value == "root" else None


def environment(value: Any) -> str | None:
    return slug(value)


def network(value: Any) -> str | None:
    try:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not a network in CIDR notation (such as 192.0.2.0/24)"
    net = ipaddress.ip_network(value, strict=False)
    if str(net) != value:
        return f"{value!r} has host bits set (the network is {net})"
    return None


def timezone(value: Any) -> str | None:
    try:
        if isinstance(value, str) and value:
            zoneinfo.ZoneInfo(value)
            return None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    return f"{value!r} is not a known time zone (such as Asia/Ho_Chi_Minh)"


def quota(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"{value!r} is not a size (a whole number and a unit K, M, G or T, such as 2G)"
    if isinstance(value, int):
        return f"{value!r} has no unit (add K, M, G or T, such as {value}G)"
    match = QUOTA.fullmatch(value)
    if match is None:
        return f"{value!r} is not a size (a whole number and a unit K, M, G or T, such as 2G)"
    if match["unit"] not in QUOTA_UNITS:
        return f"{value!r} has an unknown unit {match['unit']!r} (use K, M, G or T, such as 2G)"
    if int(match["number"]) == 0:
        return f"{value!r} is not more than zero"
    return None


def rate(value: Any) -> str | None:
    if isinstance(value, str) and RATE.fullmatch(value):
        return None
    return (
        f"{value!r} is not a request rate (a whole number > 0 and r/s or r/m, such as 20r/s "
        "or 600r/m)"
    )


def nginx_size(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"{value!r} is not a size (a whole number and optionally k, m or g, such as 1m)"
    if isinstance(value, str) and not NGINX_SIZE.fullmatch(value):
        return f"{value!r} is not a size (a whole number and optionally k, m or g, such as 1m)"
    return None


def whole_number(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return f"{value!r} is not a whole number >= 0"


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{value!r} is not true or false"


def sha256(value: Any) -> str | None:
    if isinstance(value, str) and SHA256.fullmatch(value):
        return None
    return f"{value!r} is not a sha256 checksum (64 hexadecimal digits)"


def artifact_source(value: Any) -> str | None:
    usable = isinstance(value, str) and value.strip() and not value.startswith("-")
    if usable and ("://" not in value or value.startswith(("http://", "https://"))):
        return None
    return f"{value!r} is not a path on the controller or an http(s):// URL"


def tls_source(value: Any) -> str | None:
    if value == "internal":
        return None
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"certificate", "key"})
        if unknown:
            return f"unknown key {unknown[0]!r} (expected: certificate, key)"
        paths = [value.get("certificate"), value.get("key")]
        if all(isinstance(p, str) and p.startswith("/") for p in paths):
            return None
    return (
        f"no certificate source in {value!r}: 'internal' (the centre's CA) or certificate and "
        "key, both absolute paths"
    )


def duration(value: Any) -> str | None:
    if isinstance(value, str) and value and DURATION.fullmatch(value):
        if any(c in "123456789" for c in value):
            return None
        return f"{value!r} is not more than zero"
    return (
        f"{value!r} is not a duration (whole numbers with ms, s, m, h, d, w or y, "
        "largest unit first, such as 15s, 1m30s or 15d)"
    )


def templated(value: Any) -> bool:
    """A Jinja expression: taken literally by the loader, so not checked."""
    return isinstance(value, str) and "{{" in value


LONG_QUOTED = re.compile(r"'((?:[^'\\]|\\.){" + str(SHOWN_VALUE + 1) + r",})'")


def shorten_values(message: str) -> str:
    """A message whose quoted values are at most SHOWN_VALUE characters (the middle cut out)."""

    def cut(match: re.Match[str]) -> str:
        text = match.group(1)
        keep = SHOWN_VALUE - 12
        return f"'{text[:keep]}...{text[-9:]}' ({len(text):,} characters)"

    return LONG_QUOTED.sub(cut, message)


def version_as_number(value: float) -> str:
    return (
        f"{value!r} was read as a number, not a version (YAML reads 1.10 as 1.1): "
        "write versions in quotes"
    )


def port(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return None
    return f"{value!r} is not a port (a whole number 1..65535)"


def address_or_network(value: Any) -> str | None:
    try:
        if not isinstance(value, str):
            raise ValueError
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return (
            f"{value!r} is not an IP address or a network in CIDR notation (such as 192.0.2.0/24)"
        )
    if "/" in value and str(net) != value:
        return f"{value!r} has host bits set (the network is {net})"
    return None


def one_of(*choices: str) -> Validator:
    def validate(value: Any) -> str | None:
        if value in choices:
            return None
        return f"{value!r} is not one of {', '.join(choices)}"

    return validate


VAR_RULES: dict[str, Validator] = {
    "pdic_env": environment,
    "pdic_domain": dns_name,
    "pdic_network": network,
    "pdic_ops_user": unix_user,
    "pdic_timezone": timezone,
}


# -- the checker ------------------------------------------------------------------------------


Items = list[tuple[int, Mapping[str, Any]]]


class _Checker:
    """Applies every rule of the module docstring to one loaded inventory."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.inventory = source.inventory
        self.problems: list[Problem] = list(source.notes)
        self.agencies: dict[str, int] = {}
        self.mail_domains: dict[str, int] = {}
        self.mailboxes: dict[str, int] = {}
        self.aliases: dict[str, int] = {}
        self.site_hostnames: dict[str, int] = {}

    def run(self) -> None:
        self.check_groups()
        network = self.check_vars()
        self.check_hosts(network)
        self.check_certificate_files()
        self.check_data_level()
        self.check_agencies()
        self.check_portal_sites()
        self.check_applications()
        self.check_names()
        self.check_mail()
        self.check_postgresql()
        self.check_monitoring()
        self.check_firewall()
        self.check_log_server()
        self.check_backups()
        self.check_secrets()
        self.check_application_links()

    # reporting

    def add(self, file: str, path: KeyPath, message: str) -> None:
        self.problems.append(self.source.problem(file, path, shorten_values(message)))

    def at(self, layer: Layer, path: KeyPath, message: str) -> None:
        self.add(layer.file, (*layer.prefix, *path), message)

    def var(self, key: str) -> tuple[Any, Layer] | None:
        """The all-level value of ``key`` and the layer it comes from."""
        layer = self.source.origin(self.source.all_layers, key)
        return None if layer is None else (layer.data[key], layer)

    # groups and hosts

    def check_groups(self) -> None:
        hosts_file = self.source.hosts_file
        places = self.source.group_places
        allowed = set(KNOWN_GROUPS) | self.extra_groups()
        for group, (file, place) in places.items():
            if group in ("all", "ungrouped") or group in allowed:
                continue
            self.add(
                file,
                place,
                f"unknown group {group!r} (known: {', '.join(sorted(KNOWN_GROUPS))}; "
                "list others in pdic_extra_groups)",
            )
        for group in KNOWN_GROUPS:
            if group not in places:
                self.add(hosts_file, ("all", "children", group), "required group is missing")
            elif not self.inventory.groups.get(group):
                self.add(*places[group], "required group has no host")
        for name, host in self.inventory.hosts.items():
            if not host.groups:
                self.add(*self.source.host_places[name][0], "host is in no group")

    def extra_groups(self) -> set[str]:
        found = self.var("pdic_extra_groups")
        if found is None:
            return set()
        value, layer = found
        if not isinstance(value, list):
            self.at(layer, ("pdic_extra_groups",), "must be a list of group names")
            return set()
        extra = set()
        for i, name in enumerate(value):
            if isinstance(name, str) and GROUP_NAME.fullmatch(name):
                extra.add(name)
            else:
                self.at(
                    layer,
                    ("pdic_extra_groups", i),
                    f"{name!r} is not a group name (lowercase letters, digits and _)",
                )
        return extra

    def check_vars(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        """Checks the required all-level variables; returns pdic_network if it is valid."""
        net = None
        for key in REQUIRED_VARS:
            found = self.var(key)
            if found is None:
                self.problems.append(Problem("group_vars/all", key, "required variable is missing"))
                continue
            value, layer = found
            problem = VAR_RULES[key](value)
            if problem:
                self.at(layer, (key,), problem)
            elif key == "pdic_network":
                net = ipaddress.ip_network(value)
        return net

    def check_hosts(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network | None) -> None:
        seen: dict[Any, str] = {}
        primaries: list[str] = []
        for name, places in self.source.host_places.items():
            problem = host_label(name)
            if problem:
                self.add(*places[0], problem)
            layers = self.source.host_layers[name]
            self.check_conflicting_addresses(name, layers)
            origin = self.source.origin(layers, "ansible_host")
            if origin is None:
                self.add(
                    *places[0],
                    "ansible_host is missing (the host's IP address inside pdic_network)",
                )
            else:
                address = self.check_address(origin, origin.data["ansible_host"], net)
                if address is not None and address in seen:
                    self.at(
                        origin,
                        ("ansible_host",),
                        f"{str(address)!r} is also the address of {seen[address]}",
                    )
                elif address is not None:
                    seen[address] = name
            port_origin = self.source.origin(layers, "ansible_port")
            if port_origin is not None:
                value = port_origin.data["ansible_port"]
                problem = None if templated(value) else port(value)
                if problem:
                    self.at(port_origin, ("ansible_port",), problem)
            role_origin = self.source.origin(layers, "postgresql_role")
            if role_origin is not None:
                role = role_origin.data["postgresql_role"]
                problem = one_of(*POSTGRESQL_ROLES)(role)
                if problem:
                    self.at(role_origin, ("postgresql_role",), problem)
                elif role == "primary":
                    primaries.append(name)
                    if len(primaries) > 1:
                        self.at(
                            role_origin,
                            ("postgresql_role",),
                            f"a second primary (first: {primaries[0]}); the others are replicas",
                        )

    def check_certificate_files(self) -> None:
        key = "pdic_certificate_files"
        seen: set[tuple[str, KeyPath]] = set()
        layers = [*self.source.all_layers]
        for name in self.source.host_places:
            layers += self.source.host_layers[name]
        for layer in layers:
            if not isinstance(layer.data, Mapping) or key not in layer.data:
                continue
            if (layer.file, layer.prefix) in seen:
                continue
            seen.add((layer.file, layer.prefix))
            value = layer.data[key]
            if not isinstance(value, list):
                self.at(layer, (key,), "must be a list of absolute paths or shell globs")
                continue
            for i, path in enumerate(value):
                if not isinstance(path, str) or not CERT_GLOB.fullmatch(path):
                    self.at(
                        layer,
                        (key, i),
                        f"{path!r} is not an absolute path or shell glob "
                        "(letters, digits, . _ / - + @ : * ? [ ])",
                    )

    def check_conflicting_addresses(self, name: str, layers: list[Layer]) -> None:
        first: Layer | None = None
        for layer in layers:
            if layer.file not in self.source.inventory_files or "ansible_host" not in layer.data:
                continue
            if layer.prefix[-2:-1] != ("hosts",):
                continue
            if first is None:
                first = layer
            elif layer.data["ansible_host"] != first.data["ansible_host"]:
                where = ".".join(str(k) for k in (*first.prefix, "ansible_host"))
                if first.file != layer.file:
                    where = f"{first.file}: {where}"
                self.at(
                    layer,
                    ("ansible_host",),
                    f"{layer.data['ansible_host']!r} conflicts with "
                    f"{first.data['ansible_host']!r} given for {name} at {where}",
                )

    def check_address(
        self,
        origin: Layer,
        value: Any,
        net: ipaddress.IPv4Network | ipaddress.IPv6Network | None,
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            if not isinstance(value, str):
                raise ValueError
            address = ipaddress.ip_address(value)
        except ValueError:
            self.at(origin, ("ansible_host",), f"{value!r} is not an IP address")
            return None
        if net is None:
            return address
        if address not in net:
            self.at(origin, ("ansible_host",), f"{value!r} is outside pdic_network {str(net)!r}")
        elif net.num_addresses > 2 and address in (net.network_address, net.broadcast_address):
            self.at(
                origin,
                ("ansible_host",),
                f"{value!r} is the network or broadcast address of pdic_network {str(net)!r}",
            )
        return address

    # province data

    def check_data_level(self) -> None:
        everywhere = {id(layer) for layer in self.source.all_layers}
        layers: list[Layer] = []
        for group_layers in self.source.group_layers.values():
            layers.extend(group_layers)
        for host_layers in self.source.host_layers.values():
            layers.extend(host_layers)
        done: set[int] = set()
        for layer in layers:
            if id(layer) in everywhere or id(layer) in done:
                continue
            done.add(id(layer))
            for key in DATA_KEYS:
                if key in layer.data:
                    self.at(
                        layer,
                        (key,),
                        "province data belongs at the all level (group_vars/all), "
                        "not in the variables of a group or host",
                    )

    def items(self, key: str, fields: dict[str, bool]) -> tuple[Items, Layer | None]:
        """The mapping items of list ``key``, after the checks common to all data lists.

        ``fields`` maps each allowed item key to whether it is required. Items that are not
        mappings are reported and left out; empty (None) optional values are dropped.
        """
        found = self.var(key)
        if found is None:
            return [], None
        value, layer = found
        if not isinstance(value, list):
            self.at(layer, (key,), "must be a list of mappings")
            return [], layer
        out: Items = []
        for i, item in self.mapping_items(layer, key, value, fields):
            out.append((i, {k: v for k, v in item.items() if k in fields and v is not None}))
        return out, layer

    def mapping_items(
        self, layer: Layer, key: str, value: list[Any], fields: dict[str, bool]
    ) -> Items:
        """The items of ``value`` (list ``key`` of ``layer``) that are mappings; every item that
        is not one, every unknown key and every required key missing or empty is reported."""
        expected = ", ".join(sorted(fields))
        out: Items = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                self.at(layer, (key, i), "must be a mapping")
                continue
            for name in item:
                if name not in fields:
                    self.at(layer, (key, i, name), f"unknown key {name!r} (expected: {expected})")
            for name, required in fields.items():
                if required and name not in item:
                    self.at(layer, (key, i), f"missing required key {name!r}")
                elif required and item[name] in (None, ""):
                    self.at(layer, (key, i, name), "must not be empty")
            out.append((i, item))
        return out

    def validate(self, layer: Layer, key: str, items: Items, rules: dict[str, Validator]) -> None:
        for i, item in items:
            for name, rule in rules.items():
                if name in item and item[name] != "":
                    problem = rule(item[name])
                    if problem:
                        self.at(layer, (key, i, name), problem)

    def unique(
        self, layer: Layer, key: str, items: Items, name: str, what: str, fold: bool = False
    ) -> dict[str, int]:
        """Index of ``item[name]`` -> item position; later duplicates are reported."""
        first: dict[str, int] = {}
        for i, item in items:
            value = item.get(name)
            if not isinstance(value, str) or not value:
                continue
            value = value.lower() if fold else value
            if value in first:
                self.at(
                    layer,
                    (key, i, name),
                    f"duplicate {what} {item[name]!r} (first at {key}[{first[value]}])",
                )
            else:
                first[value] = i
        return first

    def reference(
        self, layer: Layer, key: str, items: Items, name: str, known: Mapping[str, int], of: str
    ) -> None:
        for i, item in items:
            value = item.get(name)
            if isinstance(value, str) and value and value not in known:
                self.at(layer, (key, i, name), f"unknown {name} {value!r} (not in {of})")

    def check_agencies(self) -> None:
        key = "pdic_agencies"
        fields = {"id": True, "name": True, "tier": True, "parent": False, "domain": False}
        items, layer = self.items(key, fields)
        if layer is None:
            return
        rules = {"id": slug, "name": text, "tier": one_of(*TIERS), "domain": dns_name}
        self.validate(layer, key, items, rules)
        self.agencies = self.unique(layer, key, items, "id", "agency")
        by_id = {item["id"]: item for _, item in items if isinstance(item.get("id"), str)}
        rank = {tier: n for n, tier in enumerate(TIERS)}
        for i, item in items:
            parent = item.get("parent")
            tier = item.get("tier")
            if parent is None:
                if tier == "commune":
                    self.at(layer, (key, i), "a commune needs a parent agency")
                continue
            if parent == item.get("id"):
                self.at(layer, (key, i, "parent"), "an agency cannot be its own parent")
            elif not isinstance(parent, str) or parent not in by_id:
                self.at(layer, (key, i, "parent"), f"unknown parent agency {parent!r}")
            else:
                parent_tier = by_id[parent].get("tier")
                if tier in rank and parent_tier in rank and rank[parent_tier] > rank[tier]:
                    self.at(
                        layer,
                        (key, i, "parent"),
                        f"parent {parent!r} is a {parent_tier}; a {tier} cannot belong to it",
                    )
                loop = self.parent_loop(item["id"], by_id)
                if loop:
                    self.at(layer, (key, i, "parent"), f"parent chain loops: {' -> '.join(loop)}")

    def parent_loop(self, start: str, by_id: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """The loop of parents back to ``start`` (reported once, at its first id), else []."""
        chain = [start]
        current = by_id[start].get("parent")
        while isinstance(current, str) and current in by_id and current not in chain:
            chain.append(current)
            current = by_id[current].get("parent")
        if current != start or len(chain) < 2:
            return []
        if self.agencies.get(start, NOT_A_POSITION) != min(self.agencies.get(a, 0) for a in chain):
            return []
        return [*chain, start]

    def check_portal_sites(self) -> None:
        key = "portal_sites"
        fields = {
            "name": True,
            "hostname": True,
            "agency": True,
            "title": True,
            "tls": False,
            "rate_limit": False,
            "rate_burst": False,
            "body_size": False,
            "maintenance": False,
        }
        items, layer = self.items(key, fields)
        if layer is None:
            return
        rules: dict[str, Validator] = {
            "name": slug,
            "hostname": dns_name,
            "title": text,
            "tls": tls_source,
            "rate_limit": rate,
            "rate_burst": whole_number,
            "body_size": nginx_size,
            "maintenance": boolean,
        }
        self.validate(layer, key, items, rules)
        self.unique(layer, key, items, "name", "site name")
        self.site_hostnames = self.unique(layer, key, items, "hostname", "site hostname", fold=True)
        self.reference(layer, key, items, "agency", self.agencies, "pdic_agencies")

    def check_applications(self) -> None:
        key = "pdic_applications"
        fields = {
            "name": True,
            "group": True,
            "hostname": True,
            "port": True,
            "version": True,
            "artifacts": True,
            "title": False,
            "database": False,
            "db_role": False,
            "environment": False,
            "secrets": False,
            "backup": False,
        }
        items, layer = self.items(key, fields)
        if layer is None:
            return
        rules: dict[str, Validator] = {
            "name": application_name,
            "hostname": dns_name,
            "port": port,
            "title": text,
        }
        self.validate(layer, key, items, rules)
        self.unique(layer, key, items, "name", "application")
        self.unique(layer, key, items, "hostname", "application hostname", fold=True)
        site_names = self.site_names()
        ports: dict[tuple[Any, Any], int] = {}
        for i, item in items:
            hostname = item.get("hostname")
            if isinstance(hostname, str) and hostname.lower() in self.site_hostnames:
                self.at(
                    layer,
                    (key, i, "hostname"),
                    f"{hostname!r} is also a portal site's hostname "
                    f"(portal_sites[{self.site_hostnames[hostname.lower()]}])",
                )
            name = item.get("name")
            if isinstance(name, str) and name in site_names:
                self.at(
                    layer,
                    (key, i, "name"),
                    f"{name!r} is also a portal site's name (portal_sites[{site_names[name]}]): "
                    "nginx sites, logs and certificates are named after both",
                )
            group = item.get("group")
            if group not in (None, "") and group not in self.inventory.groups:
                self.at(
                    layer,
                    (key, i, "group"),
                    f"unknown group {group!r} (not in {self.source.hosts_file})",
                )
            elif group == "portal":
                self.at(
                    layer,
                    (key, i, "group"),
                    "the portal hosts' nginx serves portal_sites (playbooks/web.yml): run "
                    "applications on a group of their own",
                )
            elif group not in (None, ""):
                portal = set(self.inventory.groups.get("portal", ()))
                shared = [h for h in self.inventory.groups[group] if h in portal]
                if shared:
                    self.at(
                        layer,
                        (key, i, "group"),
                        f"{', '.join(shared)} also in group portal, whose nginx serves "
                        "portal_sites (playbooks/web.yml): run applications on other hosts",
                    )
            number = item.get("port")
            if port(number) is not None or not isinstance(number, int):
                pass  # reported by validate
            elif number in RESERVED_PORTS:
                self.at(
                    layer,
                    (key, i, "port"),
                    f"{number} is the port of {RESERVED_PORTS[number]} on the application hosts",
                )
            elif number < 1024:
                self.at(
                    layer,
                    (key, i, "port"),
                    f"{number} is below 1024: the service has no privilege to listen there",
                )
            elif taken := self.group_port(group, number):
                self.at(layer, (key, i, "port"), taken)
            elif group not in (None, ""):
                if (group, number) in ports:
                    self.at(
                        layer,
                        (key, i, "port"),
                        f"port {number} is already taken on group {group!r} by "
                        f"{key}[{ports[group, number]}]",
                    )
                else:
                    ports[group, number] = i
            self.check_artifacts(layer, (key, i), item)
            self.check_app_settings(layer, (key, i), item)

    def group_port(self, group: Any, number: int) -> str | None:
        """Which service of another group's role listens on ``number`` on a host that ``group``
        shares with that group (:data:`pdic.app.names.GROUP_PORTS`), if any."""
        if not isinstance(group, str) or group not in self.inventory.groups:
            return None
        for other, ports in GROUP_PORTS.items():
            shared = [
                h for h in self.inventory.groups[group] if h in self.inventory.groups.get(other, ())
            ]
            if number in ports and shared:
                return (
                    f"{number} is the port of {ports[number]} on {', '.join(shared)} "
                    f"(group {other})"
                )
        return None

    def site_names(self) -> dict[str, int]:
        found = self.var("portal_sites")
        value = found[0] if found else None
        names: dict[str, int] = {}
        for i, site in enumerate(value if isinstance(value, list) else []):
            if isinstance(site, Mapping) and isinstance(site.get("name"), str):
                names.setdefault(site["name"], i)
        return names

    def check_app_settings(self, layer: Layer, at: KeyPath, app: Mapping[str, Any]) -> None:
        """environment, secrets and backup of one application (their shapes)."""
        for name in ("environment", "secrets"):
            value = app.get(name)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                self.at(layer, (*at, name), "must be a mapping of environment variable names")
                continue
            for variable, setting in value.items():
                problem = env_name(variable)
                if problem:
                    self.at(layer, (*at, name, variable), problem)
                elif name == "environment" and (
                    isinstance(setting, bool | Mapping | list) or setting is None
                ):
                    self.at(
                        layer,
                        (*at, name, variable),
                        f"{setting!r} is not a text or a number",
                    )
                elif name == "secrets" and (
                    not isinstance(setting, str) or not VARIABLE.fullmatch(setting)
                ):
                    self.at(
                        layer,
                        (*at, name, variable),
                        f"{setting!r} is not the name of a secret (a variable of pdic_secrets)",
                    )
        backup = app.get("backup")
        if backup is None:
            return
        if not isinstance(backup, Mapping):
            self.at(layer, (*at, "backup"), "must be a mapping (keep, on_calendar)")
            return
        for name in backup:
            if name not in ("keep", "on_calendar"):
                self.at(
                    layer,
                    (*at, "backup", name),
                    f"unknown key {name!r} (expected: keep, on_calendar)",
                )
        keep = backup.get("keep", 7)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            self.at(
                layer,
                (*at, "backup", "keep"),
                f"{keep!r} is not a whole number >= 1 (archives kept; 0 would keep none)",
            )
        calendar = backup.get("on_calendar", "daily")
        if not isinstance(calendar, str) or not ON_CALENDAR.fullmatch(calendar):
            self.at(
                layer,
                (*at, "backup", "on_calendar"),
                f"{calendar!r} is not a systemd calendar event (such as daily or *-*-* 02:30)",
            )

    def check_application_links(self) -> None:
        """Each application's database role, database and secrets are declared, and its group
        may connect as that role (pg_hba.conf admits the role's groups only)."""
        found = self.var("pdic_applications")
        if found is None or not isinstance(found[0], list):
            return
        value, layer = found
        key = "pdic_applications"
        roles = {
            r["name"]: r
            for r in self.raw_items("postgresql_roles")
            if isinstance(r.get("name"), str)
        }
        databases = {
            d["name"]
            for d in self.raw_items("postgresql_databases")
            if isinstance(d.get("name"), str)
        }
        secrets_found = self.var("pdic_secrets")
        secrets = {s.get("name") for s in self.raw_items("pdic_secrets")}
        for i, app in enumerate(value):
            if not isinstance(app, Mapping):
                continue
            database, role = app.get("database"), app.get("db_role")
            if (database is None) != (role is None):
                missing = "db_role" if role is None else "database"
                self.at(
                    layer,
                    (key, i),
                    f"database and db_role go together: {missing} is missing",
                )
            if isinstance(role, str) and role not in roles:
                self.at(
                    layer,
                    (key, i, "db_role"),
                    f"unknown db_role {role!r} (not in postgresql_roles)",
                )
            elif isinstance(role, str):
                granted = roles[role].get("databases") or []
                groups = roles[role].get("groups") or []
                if database is not None and database not in databases:
                    self.at(
                        layer,
                        (key, i, "database"),
                        f"unknown database {database!r} (not in postgresql_databases)",
                    )
                elif database is not None and database not in granted:
                    self.at(
                        layer,
                        (key, i, "database"),
                        f"role {role!r} has no access to database {database!r} "
                        "(not in its databases)",
                    )
                group = app.get("group")
                if isinstance(group, str) and isinstance(groups, list) and group not in groups:
                    self.at(
                        layer,
                        (key, i, "db_role"),
                        f"hosts of group {group!r} may not connect as {role!r} (not in its groups)",
                    )
            app_secrets = app.get("secrets")
            if not isinstance(app_secrets, Mapping):
                continue
            for variable, secret in app_secrets.items():
                if isinstance(secret, str) and VARIABLE.fullmatch(secret) and secret not in secrets:
                    where = "no pdic_secrets" if secrets_found is None else "not in pdic_secrets"
                    self.at(
                        layer,
                        (key, i, "secrets", variable),
                        f"unknown secret {secret!r} ({where}: `pdic secrets ensure` would not "
                        "create it)",
                    )

    def raw_items(self, key: str) -> list[Mapping[str, Any]]:
        """The mapping items of the all-level list ``key``, unchecked ([] if it is no list)."""
        found = self.var(key)
        value = found[0] if found else None
        return [x for x in value if isinstance(x, Mapping)] if isinstance(value, list) else []

    def check_artifacts(self, layer: Layer, at: KeyPath, app: Mapping[str, Any]) -> None:
        artifacts = app.get("artifacts")
        if artifacts in (None, ""):
            return
        if not isinstance(artifacts, list) or not artifacts:
            self.at(layer, (*at, "artifacts"), "must be a non-empty list of artifacts")
            return
        key = f"{at[0]}[{at[1]}].artifacts"
        fields = {"version": True, "source": True, "sha256": True}
        versions: dict[str, int] = {}
        for j, artifact in enumerate(artifacts):
            where = (*at, "artifacts", j)
            if not isinstance(artifact, Mapping):
                self.at(layer, where, "must be a mapping")
                continue
            for name in artifact:
                if name not in fields:
                    expected = ", ".join(sorted(fields))
                    self.at(layer, (*where, name), f"unknown key {name!r} (expected: {expected})")
            for name in fields:
                if name not in artifact:
                    self.at(layer, where, f"missing required key {name!r}")
                elif artifact[name] in (None, ""):
                    self.at(layer, (*where, name), "must not be empty")
            for name, rule in (("source", artifact_source), ("sha256", sha256)):
                if artifact.get(name) not in (None, ""):
                    problem = rule(artifact[name])
                    if problem:
                        self.at(layer, (*where, name), problem)
            version = artifact.get("version")
            if isinstance(version, float):
                self.at(layer, (*where, "version"), version_as_number(version))
            elif version not in (None, ""):
                version = str(version)
                if version in versions:
                    self.at(
                        layer,
                        (*where, "version"),
                        f"duplicate version {version!r} (first at {key}[{versions[version]}])",
                    )
                else:
                    versions[version] = j
        wanted = app.get("version")
        if isinstance(wanted, float):
            self.at(layer, (*at, "version"), version_as_number(wanted))
        elif wanted not in (None, "") and versions and str(wanted) not in versions:
            self.at(
                layer,
                (*at, "version"),
                f"version {wanted!r} has no artifact (artifacts: {', '.join(versions)})",
            )

    def check_names(self) -> None:
        for layer in self.layers_with("pdic_etc_hosts_service_names"):
            problem = boolean(layer.data["pdic_etc_hosts_service_names"])
            if problem:
                self.at(layer, ("pdic_etc_hosts_service_names",), problem)

    def check_mail(self) -> None:
        key = "mail_domains"
        items, layer = self.items(key, {"name": True, "agency": True, "host": False})
        if layer is not None:
            self.validate(layer, key, items, {"name": dns_name})
            self.mail_domains = self.unique(layer, key, items, "name", "mail domain", fold=True)
            self.reference(layer, key, items, "agency", self.agencies, "pdic_agencies")
            self.check_mail_hosts(layer, key, items)
        self.check_agency_domains()

        key = "mail_mailboxes"
        fields = {"address": True, "name": True, "agency": True, "quota": True, "state": False}
        items, layer = self.items(key, fields)
        if layer is not None:
            rules = {
                "address": mail_address,
                "name": text,
                "quota": quota,
                "state": one_of(*MAILBOX_STATES),
            }
            self.validate(layer, key, items, rules)
            self.mailboxes = self.unique(layer, key, items, "address", "mailbox", fold=True)
            self.reference(layer, key, items, "agency", self.agencies, "pdic_agencies")
            self.check_mail_domains(layer, key, items)
        self.check_aliases()

    def check_mail_hosts(self, layer: Layer, key: str, items: Items) -> None:
        """A domain's ``host`` is a host of group mail."""
        mail_hosts = self.inventory.groups.get("mail", ())
        for i, item in items:
            host = item.get("host")
            if host is None or templated(host):
                continue
            if not isinstance(host, str) or host not in self.inventory.hosts:
                self.at(
                    layer,
                    (key, i, "host"),
                    f"unknown host {host!r} (not in {self.source.hosts_file})",
                )
            elif host not in mail_hosts:
                known = ", ".join(mail_hosts) or "none"
                self.at(
                    layer, (key, i, "host"), f"{host!r} is not in group mail (mail hosts: {known})"
                )

    def check_agency_domains(self) -> None:
        found = self.var("pdic_agencies")
        if found is None or self.var("mail_domains") is None:
            return
        value, layer = found
        for i, item in enumerate(value if isinstance(value, list) else []):
            domain = item.get("domain") if isinstance(item, Mapping) else None
            if isinstance(domain, str) and domain and domain.lower() not in self.mail_domains:
                self.at(
                    layer,
                    ("pdic_agencies", i, "domain"),
                    f"mail domain {domain!r} is not in mail_domains",
                )

    def check_mail_domains(self, layer: Layer, key: str, items: Items) -> None:
        for i, item in items:
            address = item.get("address")
            if isinstance(address, str) and mail_address(address) is None:
                domain = address.split("@")[1]
                if domain not in self.mail_domains:
                    self.at(
                        layer,
                        (key, i, "address"),
                        f"domain {domain!r} of {address!r} is not in mail_domains",
                    )

    def check_aliases(self) -> None:
        key = "mail_aliases"
        fields = {"address": True, "to": True, "agency": False, "description": False}
        items, layer = self.items(key, fields)
        if layer is None:
            return
        self.validate(layer, key, items, {"address": mail_address, "description": text})
        self.check_mail_domains(layer, key, items)
        self.aliases = self.unique(layer, key, items, "address", "alias", fold=True)
        self.reference(layer, key, items, "agency", self.agencies, "pdic_agencies")
        targets: dict[str, list[str]] = {}
        for i, item in items:
            address = str(item.get("address", "")).lower()
            if address in self.mailboxes:
                self.at(
                    layer,
                    (key, i, "address"),
                    f"{item['address']!r} is also a mailbox "
                    f"(mail_mailboxes[{self.mailboxes[address]}])",
                )
            to = item.get("to")
            if not isinstance(to, list) or not to:
                if to not in (None, ""):
                    self.at(layer, (key, i, "to"), "must be a non-empty list of addresses")
                continue
            for j, target in enumerate(to):
                problem = mail_address(target)
                if problem:
                    self.at(layer, (key, i, "to", j), problem)
                    continue
                target = target.lower()
                local_domain = target.split("@")[1] in self.mail_domains
                if local_domain and target not in self.mailboxes and target not in self.aliases:
                    self.at(
                        layer,
                        (key, i, "to", j),
                        f"{target!r} is neither a mailbox nor an alias "
                        "(its domain is in mail_domains)",
                    )
                if target in self.aliases:
                    targets.setdefault(address, []).append(target)
        for address, position in self.aliases.items():
            loop = self.alias_loop(address, targets)
            if loop:
                self.at(layer, (key, position, "to"), f"alias loop: {' -> '.join(loop)}")

    def alias_loop(self, start: str, targets: Mapping[str, list[str]]) -> list[str]:
        """A loop from ``start`` back to itself, reported only at its first alias, else []."""
        paths = [[start]]
        seen = {start}
        while paths:
            path = paths.pop(0)
            for target in targets.get(path[-1], []):
                if target == start:
                    loop = [*path, start]
                    first = min(self.aliases[a] for a in path)
                    return loop if self.aliases[start] == first else []
                if target not in seen:
                    seen.add(target)
                    paths.append([*path, target])
        return []

    def check_postgresql(self) -> None:
        key = "postgresql_roles"
        fields = {"name": True, "groups": False, "databases": False, "description": False}
        items, layer = self.items(key, fields)
        roles: dict[str, int] = {}
        role_items, role_layer = items, layer
        if layer is not None:
            self.validate(layer, key, items, {"name": sql_identifier, "description": text})
            roles = self.unique(layer, key, items, "name", "role")
            for i, item in items:
                name = item.get("name")
                if isinstance(name, str) and (name == "postgres" or name.startswith("pg_")):
                    self.at(layer, (key, i, "name"), f"{name!r} is reserved by PostgreSQL")
                self.check_role_groups(layer, key, i, item.get("groups", []))

        key = "postgresql_databases"
        fields = {"name": True, "owner": True, "description": False}
        items, layer = self.items(key, fields)
        databases: dict[str, int] = {}
        owners: set[Any] = set()
        if layer is not None:
            self.validate(layer, key, items, {"name": sql_identifier, "description": text})
            databases = self.unique(layer, key, items, "name", "database")
            for i, item in items:
                if item.get("name") in RESERVED_DATABASES:
                    self.at(layer, (key, i, "name"), f"{item['name']!r} is reserved by PostgreSQL")
            self.reference(layer, key, items, "owner", roles, "postgresql_roles")
            owners = {item.get("owner") for _, item in items}
        if role_layer is not None:
            self.check_role_databases(role_layer, role_items, databases, owners)

    def check_role_databases(
        self, layer: Layer, items: Items, databases: Mapping[str, int], owners: set[Any]
    ) -> None:
        """A role's databases are declared; a role nobody connects as must own a database."""
        key = "postgresql_roles"
        for i, item in items:
            granted = item.get("databases", [])
            if not isinstance(granted, list):
                self.at(layer, (key, i, "databases"), "must be a list of databases")
                granted = []
            for j, name in enumerate(granted):
                if name not in databases:
                    self.at(
                        layer,
                        (key, i, "databases", j),
                        f"unknown database {name!r} (not in postgresql_databases)",
                    )
            groups = item.get("groups")
            if item.get("name") not in owners and isinstance(groups, list | None) and not groups:
                self.at(
                    layer,
                    (key, i, "groups") if "groups" in item else (key, i),
                    f"role {item.get('name')!r} owns no database and no host group may connect "
                    "as it: list the groups whose hosts use it",
                )

    def check_role_groups(self, layer: Layer, key: str, i: int, groups: Any) -> None:
        if not isinstance(groups, list):
            self.at(layer, (key, i, "groups"), "must be a list of inventory groups")
            return
        for j, group in enumerate(groups):
            if group not in self.inventory.groups:
                self.at(
                    layer,
                    (key, i, "groups", j),
                    f"unknown group {group!r} (not in {self.source.hosts_file})",
                )

    # monitoring

    def layers_with(self, key: str) -> list[Layer]:
        """Every layer (all level, group, host; each once) that sets ``key``."""
        seen: dict[int, Layer] = {}
        candidates = [*self.source.all_layers]
        for group_layers in self.source.group_layers.values():
            candidates.extend(group_layers)
        for host_layers in self.source.host_layers.values():
            candidates.extend(host_layers)
        for layer in candidates:
            if key in layer.data:
                seen.setdefault(id(layer), layer)
        return list(seen.values())

    def mappings(self, layer: Layer, key: str, fields: dict[str, bool]) -> Items:
        """The mapping items of list ``key`` in ``layer`` (not a Jinja expression)."""
        value = layer.data[key]
        if templated(value):
            return []
        if not isinstance(value, list):
            self.at(layer, (key,), "must be a list of mappings")
            return []
        return self.mapping_items(layer, key, value, fields)

    def check_monitoring(self) -> None:
        for key in DURATION_KEYS:
            for layer in self.layers_with(key):
                value = layer.data[key]
                problem = None if templated(value) else duration(value)
                if problem:
                    self.at(layer, (key,), problem)
        for layer in self.layers_with("grafana_enabled"):
            if not isinstance(layer.data["grafana_enabled"], bool):
                self.at(layer, ("grafana_enabled",), "must be true or false")

        receivers: set[str] = set()
        key = "alertmanager_receivers"
        receiver_layers = self.layers_with(key)
        for layer in receiver_layers:
            names: dict[str, int] = {}
            for i, item in self.mappings(layer, key, {"name": True, "email_to": True}):
                name = item.get("name")
                if name not in (None, ""):
                    problem = slug(name)
                    if problem:
                        self.at(layer, (key, i, "name"), problem)
                    elif name in names:
                        self.at(
                            layer,
                            (key, i, "name"),
                            f"duplicate receiver {name!r} (first at {key}[{names[name]}])",
                        )
                    else:
                        names[name] = i
                        receivers.add(name)
                to = item.get("email_to")
                if to in (None, "") or templated(to):
                    continue
                if not isinstance(to, list) or not to:
                    self.at(layer, (key, i, "email_to"), "must be a list of mail addresses")
                    continue
                for j, address in enumerate(to):
                    problem = None if templated(address) else mail_address(address)
                    if problem:
                        self.at(layer, (key, i, "email_to", j), problem)
        if not receiver_layers:
            receivers.update(DEFAULT_RECEIVERS)
        known = ", ".join(sorted(receivers)) or "none"

        key = "alertmanager_teams"
        for layer in self.layers_with(key):
            teams: dict[str, int] = {}
            for i, item in self.mappings(layer, key, {"name": True, "receiver": True}):
                name = item.get("name")
                if name not in (None, ""):
                    if name not in ALERT_TEAMS:
                        self.at(
                            layer,
                            (key, i, "name"),
                            f"{name!r} is not a team of the alert rules ({', '.join(ALERT_TEAMS)})",
                        )
                    elif name in teams:
                        self.at(
                            layer,
                            (key, i, "name"),
                            f"duplicate team {name!r} (first at {key}[{teams[name]}])",
                        )
                    else:
                        teams[name] = i
                receiver = item.get("receiver")
                if receiver not in (None, "", *receivers) and not templated(receiver):
                    self.at(
                        layer,
                        (key, i, "receiver"),
                        f"unknown receiver {receiver!r} (alertmanager_receivers: {known})",
                    )

        key = "alertmanager_default_receiver"
        for layer in self.layers_with(key):
            value = layer.data[key]
            if not templated(value) and value not in receivers:
                self.at(
                    layer, (key,), f"unknown receiver {value!r} (alertmanager_receivers: {known})"
                )

    # hardening

    def layers(self) -> list[Layer]:
        """Every variable layer once: all, groups, hosts."""
        seen: dict[int, Layer] = {id(x): x for x in self.source.all_layers}
        for layers in [*self.source.group_layers.values(), *self.source.host_layers.values()]:
            seen.update((id(x), x) for x in layers)
        return list(seen.values())

    def group_list(self, layer: Layer, path: KeyPath, value: Any) -> None:
        """A list of groups: ``all`` or groups of hosts.yml."""
        if isinstance(value, str) and "{{" in value:
            return
        if not isinstance(value, list):
            self.at(layer, path, "must be a list of inventory groups")
            return
        for j, group in enumerate(value):
            if group != "all" and group not in self.inventory.groups:
                self.at(
                    layer,
                    (*path, j),
                    f"unknown group {group!r} (not in {self.source.hosts_file})",
                )

    def check_firewall(self) -> None:
        fields = {
            "name": True,
            "ports": True,
            "proto": False,
            "on": False,
            "from_groups": False,
            "from_networks": False,
        }
        expected = ", ".join(sorted(fields))
        for layer in self.layers():
            for key in FIREWALL_KEYS:
                rules = layer.data.get(key)
                if key not in layer.data or (isinstance(rules, str) and "{{" in rules):
                    continue
                if not isinstance(rules, list):
                    self.at(layer, (key,), "must be a list of rules")
                    continue
                for i, rule in enumerate(rules):
                    self.check_firewall_rule(layer, (key, i), rule, fields, expected)

    def check_firewall_rule(
        self, layer: Layer, at: KeyPath, rule: Any, fields: dict[str, bool], expected: str
    ) -> None:
        if not isinstance(rule, Mapping):
            self.at(layer, at, "must be a mapping")
            return
        for name in rule:
            if name not in fields:
                self.at(layer, (*at, name), f"unknown key {name!r} (expected: {expected})")
        for name, required in fields.items():
            if required and name not in rule:
                self.at(layer, at, f"missing required key {name!r}")
        if "name" in rule and text(rule["name"]):
            self.at(layer, (*at, "name"), str(text(rule["name"])))
        ports = rule.get("ports")
        if "ports" in rule and (not isinstance(ports, list) or not ports):
            self.at(layer, (*at, "ports"), "must be a non-empty list of ports")
        for j, value in enumerate(ports if isinstance(ports, list) else []):
            problem = port(value)
            if problem:
                self.at(layer, (*at, "ports", j), problem)
        if "proto" in rule:
            problem = one_of(*FIREWALL_PROTOCOLS)(rule["proto"])
            if problem:
                self.at(layer, (*at, "proto"), problem)
        for name in ("on", "from_groups"):
            if name in rule:
                self.group_list(layer, (*at, name), rule[name])
        networks = rule.get("from_networks", [])
        if not isinstance(networks, list):
            self.at(layer, (*at, "from_networks"), "must be a list of addresses or networks")
            networks = []
        for j, value in enumerate(networks):
            problem = address_or_network(value)
            if problem:
                self.at(layer, (*at, "from_networks", j), problem)
        if not rule.get("from_groups") and not networks:
            self.at(layer, at, "admits nobody: set from_groups or from_networks")

    def check_log_server(self) -> None:
        for layer in self.layers():
            value = layer.data.get("hardening_log_server")
            if not isinstance(value, str) or not value or "{{" in value:
                continue
            if value not in self.inventory.hosts:
                self.at(
                    layer,
                    ("hardening_log_server",),
                    f"unknown host {value!r} (not in {self.source.hosts_file})",
                )

    # databases and backups

    def check_backups(self) -> None:
        for key in RETENTION_KEYS:
            for layer in self.layers_with(key):
                value = layer.data[key]
                if templated(value):
                    continue
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    self.at(
                        layer,
                        (key,),
                        f"{value!r} is not a whole number >= 1 (backups kept; 0 would keep none)",
                    )
        for layer in self.layers_with("postgresql_allow_restart"):
            value = layer.data["postgresql_allow_restart"]
            if not isinstance(value, bool) and not templated(value):
                self.at(layer, ("postgresql_allow_restart",), "must be true or false")

    def check_secrets(self) -> None:
        key = "pdic_secrets"
        items, layer = self.items(key, {"name": True, "length": False})
        if layer is None:
            return
        self.unique(layer, key, items, "name", "secret")
        for i, item in items:
            name = item.get("name")
            if isinstance(name, str) and name and not VARIABLE.fullmatch(name):
                self.at(
                    layer,
                    (key, i, "name"),
                    f"{name!r} is not a variable name (lowercase letters, digits and _)",
                )
            length = item.get("length", 32)
            if isinstance(length, bool) or not isinstance(length, int) or not 16 <= length <= 256:
                self.at(layer, (key, i, "length"), f"{length!r} is not a whole number 16..256")
