"""Who logs in to the centre's hosts over SSH, and how: in one place for the playbooks, the
audit and the CLI.

- **The operations account** (``pdic_ops_user``: Ansible, pyinfra, the audit) logs in with a
  key only, and only from the **control networks**. The inventory names those once, in the
  firewall's allow-lists: :func:`control_networks` is the ``from_networks`` of every rule that
  opens the SSH port over TCP (``firewall_rules``, ``firewall_group_rules``,
  ``firewall_host_rules``), less the "anyone" networks. playbooks/hardening.yml hands them to
  ssh_hardening (``ssh_hardening_ops_from``) and fail2ban (never banned) through the Ansible
  filter ``pdic_ssh_control_networks``; the audit's check of PDIC-SSH-022 derives the same
  list from the same variables.
- **Administrators** (``pdic_admins``) log in with their own key and then a TOTP code, which
  pam_oath checks against ``/etc/users.oath``: :func:`users_oath` is that file's text (filter
  ``pdic_users_oath``), :func:`admin_key` an administrator's key from the vault, for
  ``pdic admin totp`` and ``pdic admin enroll``; :func:`new_admin_key` replaces it in the vault
  (``pdic admin enroll --new-key``, when a phone is lost), for the next deploy to write out.

It does not connect to hosts: a new key reaches them with the next deploy of the hardening
play (``pdic secrets ensure`` makes the first keys).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdic.errors import PdicError
from pdic.totp import key_from_hex

if TYPE_CHECKING:
    from pdic.inventory import Inventory

ANYONE = ("0.0.0.0/0", "::/0")
"""Networks that stand for "anyone": never a control network."""
FIREWALL_KEYS = ("firewall_rules", "firewall_group_rules", "firewall_host_rules")
OATH_TYPE = "HOTP/T30/6"
"""pam_oath's token type for TOTP with a 30-second step and 6 digits (HMAC-SHA-1)."""
USERS_OATH_HEADER = (
    "# pam_oath's users file, written by pdic (role ssh_hardening) from the inventory's"
    " pdic_admins: one line per administrator (TOTP, 30 s, 6 digits, key in hex); pam_oath"
    " appends the last code accepted, so that it is never accepted twice."
)


class AdminError(PdicError):
    """An administrator the inventory does not name, or whose TOTP key is missing."""


def _ports(rule: Mapping[str, Any]) -> list[int]:
    out = []
    for value in rule.get("ports") or []:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return out


def control_networks(rules: Iterable[Any], port: Any = 22) -> list[str]:
    """The networks the firewall ``rules`` admit SSH (TCP ``port``) from, in order, each once;
    0.0.0.0/0 and ::/0 left out. Rules that are not mappings are skipped (the inventory check
    and the firewall role report them)."""
    out: list[str] = []
    for rule in rules or []:
        if not isinstance(rule, Mapping) or rule.get("proto", "tcp") != "tcp":
            continue
        if int(port) not in _ports(rule):
            continue
        for network in rule.get("from_networks") or []:
            text = str(network)
            if text not in ANYONE and text not in out:
                out.append(text)
    return out


def host_control_networks(variables: Mapping[str, Any], port: Any = 22) -> list[str]:
    """:func:`control_networks` of a host's three firewall rule lists."""
    rules: list[Any] = []
    for key in FIREWALL_KEYS:
        value = variables.get(key)
        if isinstance(value, list):
            rules.extend(value)
    return control_networks(rules, port)


def address_in(address: str, networks: Iterable[str]) -> bool:
    """Whether ``address`` lies in one of ``networks`` (addresses or CIDRs); False for an
    address or a network that does not parse."""
    try:
        found = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return False
    for network in networks:
        try:
            if found in ipaddress.ip_network(str(network), strict=False):
                return True
        except ValueError:
            continue
    return False


def users_oath(existing: str, admins: Sequence[Mapping[str, Any]]) -> str:
    """The text of pam_oath's users file for ``admins`` (mappings of ``name`` and ``secret``,
    the key in hex), one line each in their order.

    pam_oath rewrites the file after each accepted code, appending to the user's line the
    counter, that code and its time (``existing``, the file as it is on the host): a line whose
    type, user, password field and key are unchanged is kept as it is, so that a deploy never
    lets a code already used be used again. The lines of users not in ``admins`` go.
    """
    kept: dict[tuple[str, str, str, str], str] = {}
    for line in existing.splitlines():
        words = line.split()
        if len(words) >= 4 and not words[0].startswith("#"):
            kept.setdefault((words[0], words[1], words[2], words[3].lower()), line)
    out = [USERS_OATH_HEADER]
    for admin in admins:
        name = str(admin["name"])
        secret = str(admin["secret"]).strip().lower()
        key_from_hex(secret)  # refuses what pam_oath could not read (the message holds no key)
        out.append(kept.get((OATH_TYPE, name, "-", secret), f"{OATH_TYPE}\t{name}\t-\t{secret}"))
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Admin:
    """An administrator of the inventory (``pdic_admins``)."""

    name: str
    full_name: str
    totp_secret: str


def admins(inventory: Inventory) -> list[Admin]:
    """The (checked) inventory's administrators, in its order."""
    out = []
    for item in inventory.vars.get("pdic_admins") or []:
        if isinstance(item, Mapping) and item.get("name"):
            out.append(
                Admin(
                    str(item["name"]),
                    str(item.get("full_name") or ""),
                    str(item.get("totp_secret") or ""),
                )
            )
    return out


def admin(inventory: Inventory, name: str) -> Admin:
    """The administrator called ``name``; AdminError naming the known ones otherwise."""
    found = {a.name: a for a in admins(inventory)}
    if name not in found:
        known = ", ".join(found) or "none"
        raise AdminError(
            f"{name!r} is not an administrator of {inventory.path} (pdic_admins: {known})"
        )
    return found[name]


def admin_key(inventory: Inventory, name: str) -> bytes:
    """The administrator's TOTP key, read from the inventory's vault file."""
    from pdic.secrets import VAULT_FILE, password_file, read_vault

    person = admin(inventory, name)
    vault = inventory.path / VAULT_FILE
    value = read_vault(vault, password_file(inventory)).get(person.totp_secret)
    if not value:
        raise AdminError(
            f"{vault}: no {person.totp_secret} (the TOTP key of {name}): run "
            "`pdic secrets ensure` (pdic deploy does)"
        )
    return key_from_hex(str(value))


def new_admin_key(inventory: Inventory, name: str) -> bytes:
    """A new random TOTP key for the administrator, replacing the old one in the vault file
    (as pdic_secrets declares it: its length, hex); the old one works on the hosts until the
    next deploy of the hardening play writes the new one."""
    from pdic import secrets

    person = admin(inventory, name)
    declared = {d.name: d for d in secrets.declared(inventory)}.get(person.totp_secret)
    if declared is None or declared.format != "hex":
        raise AdminError(
            f"{person.totp_secret} (the TOTP key of {name}) is not declared in pdic_secrets "
            "with format: hex"
        )
    path = inventory.path / secrets.VAULT_FILE
    password = secrets.password_file(inventory)
    values = secrets.read_vault(path, password)
    values[person.totp_secret] = secrets.generate(declared.length, declared.format)
    secrets.write_vault(path, values, password)
    return key_from_hex(values[person.totp_secret])
