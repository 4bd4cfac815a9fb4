"""The values an inventory may hold: the patterns and validators every rule module shares, as
the roles' preflight does through the ``pdic_valid`` Ansible test. A validator returns None when
the value is right, else what is wrong with it, for a message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pdic.inventory.model import ENV_PREFIX, MAX_APP_NAME, RESERVED_ENV

Validator = Callable[[Any], str | None]

SHOWN_VALUE = 60
"""A quoted value in a message is shortened beyond this many characters."""
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
HOST_NAME = re.compile(DNS_LABEL.pattern + r"(?:\." + DNS_LABEL.pattern + r")*")
CERT_NAME = re.compile(r"(?:\*\.)?" + HOST_NAME.pattern)
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

# -- value validators: None if the value is right, else what is wrong with it ----------------


@dataclass(frozen=True)
class Pattern:
    """A value that is a text matching ``regex`` whole; a validator (None, or what is wrong).

    The roles' preflight checks the same values with the same patterns: ``value is
    pdic_valid('slug')`` (the Ansible test in src/pdic/ansible_plugins/test/pdic_valid.py).
    """

    name: str
    regex: re.Pattern[str]
    what: str

    def __call__(self, value: Any) -> str | None:
        if isinstance(value, str) and self.regex.fullmatch(value):
            return None
        return f"{value!r} is not {self.what}"


slug = Pattern("slug", SLUG, "a slug (lowercase letters, digits and inner hyphens)")
host_label = Pattern(
    "host_label",
    LABEL,
    "a valid host name (RFC 1123 label: letters, digits and inner hyphens, at most 63)",
)
sql_identifier = Pattern(
    "sql_identifier", SQL_IDENTIFIER, "an SQL identifier (lowercase letters, digits, _; at most 63)"
)
rate = Pattern(
    "rate",
    RATE,
    "a request rate (a whole number > 0 and r/s or r/m, such as 20r/s or 600r/m)",
)
sha256 = Pattern("sha256", SHA256, "a sha256 checksum (64 hexadecimal digits)")
variable_name = Pattern(
    "variable_name", VARIABLE, "a variable name (lowercase letters, digits and _)"
)
group_name = Pattern("group_name", GROUP_NAME, "a group name (lowercase letters, digits and _)")


def text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else f"{value!r} is not a text"


NFT_COMMENT_BYTES = 128
"""nftables keeps at most this many bytes of a rule's comment (NFTNL_UDATA_COMMENT_MAXLEN)."""


def firewall_rule_name(value: Any) -> str | None:
    """A firewall rule's name: one line of printable text that fits an nftables comment.

    The firewall role writes it as the rule's ``comment "..."``: a line break would end the
    comment (and the rule) early, nftables has no escape for ``"`` in a quoted string, and it
    refuses a comment longer than NFT_COMMENT_BYTES.
    """
    problem = text(value)
    if problem:
        return problem
    if not value.isprintable():
        return (
            f"{value!r} is not one line of printable text "
            "(it holds a line break, a tab or another non-printable character)"
        )
    if '"' in value:
        return f"{value!r} holds a double quote, which an nftables comment cannot"
    size = len(value.encode("utf-8"))
    if size > NFT_COMMENT_BYTES:
        return (
            f"{value!r} is {size} bytes long, more than an nftables comment's {NFT_COMMENT_BYTES}"
        )
    return None


def application_name(value: Any) -> str | None:
    problem = slug(value)
    if problem is None and len(value) > MAX_APP_NAME:
        return (
            f"{value!r} is longer than {MAX_APP_NAME} characters (it names the user pdicapp-NAME)"
        )
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


def webhook_url(value: Any) -> str | None:
    """An http(s) URL with a host (where Alertmanager posts its notifications)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        port = parts.port if parts is not None else None
    except ValueError:
        parts, port = None, None
    ok = parts is not None and parts.scheme in ("http", "https") and parts.hostname
    if ok and not any(c.isspace() or ord(c) < 32 for c in value) and (port is None or port > 0):
        return None
    return f"{value!r} is not an http(s) URL (such as http://backup-1:9469/alerts)"


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


SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
"""Public key types OpenSSH 9.2 (Debian 12) accepts in authorized_keys (no DSA)."""


def ssh_public_key(value: Any) -> str | None:
    """One OpenSSH public key as ``ssh-keygen`` writes it: type, base64 key (that names the
    same type), optional comment; no authorized_keys options in front, one line."""
    words = value.split() if isinstance(value, str) and "\n" not in value.strip() else []
    if len(words) >= 2 and words[0] in SSH_KEY_TYPES:
        try:
            blob = base64.b64decode(words[1], validate=True)
            size = struct.unpack(">I", blob[:4])[0] if len(blob) >= 4 else -1
        except (binascii.Error, ValueError, struct.error):
            blob, size = b"", -1
        if size > 0 and blob[4 : 4 + size] == words[0].encode() and len(blob) > 4 + size:
            return None
    return (
        f"{value!r} is not an OpenSSH public key (a type such as ssh-ed25519, its base64 key and "
        "an optional comment, on one line)"
    )


def absolute_path(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("/") and value.isprintable():
        return None
    return f"{value!r} is not an absolute path"


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


dns_label = Pattern(
    "dns_label", DNS_LABEL, "a DNS label (lowercase letters, digits and inner hyphens, at most 63)"
)
host_name = Pattern(
    "host_name",
    HOST_NAME,
    "a host name (DNS labels of lowercase letters, digits and inner hyphens; one label allowed)",
)
unix_name = Pattern(
    "unix_name", UNIX_USER, "a Unix user or group name (lowercase letters, digits, _ and -)"
)
certificate_name = Pattern(
    "certificate_name",
    CERT_NAME,
    "a certificate name (DNS labels of lowercase letters, digits and inner hyphens, "
    "optionally starting with *.)",
)

VALIDATORS: dict[str, Validator] = {
    "slug": slug,
    "host_label": host_label,
    "sql_identifier": sql_identifier,
    "rate": rate,
    "sha256": sha256,
    "variable_name": variable_name,
    "group_name": group_name,
    "certificate_name": certificate_name,
    "host_name": host_name,
    "dns_label": dns_label,
    "unix_name": unix_name,
    "env_name": env_name,
    "webhook_url": webhook_url,
    "dns_name": dns_name,
    "mail_address": mail_address,
    "quota": quota,
    "nginx_size": nginx_size,
    "whole_number": whole_number,
    "unix_user": unix_user,
    "duration": duration,
    "firewall_rule_name": firewall_rule_name,
    "ssh_public_key": ssh_public_key,
}
"""The validators the roles' preflight uses by name: ``value is pdic_valid('slug')``."""
