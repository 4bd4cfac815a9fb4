"""The inventory's rules, one module per domain, applied in this order (later rules read what
earlier ones indexed: agencies before sites, certificates, mail and applications; every data
list before the applications' links to databases and secrets, and the administrators' TOTP
keys)."""

from __future__ import annotations

from collections.abc import Callable

from pdic.inventory.context import Context
from pdic.inventory.rules import (
    admins,
    applications,
    certificates,
    databases,
    firewall,
    hosts,
    mail,
    monitoring,
    secrets,
    sites,
)

RULES: tuple[Callable[[Context], None], ...] = (
    hosts.check,
    sites.check,
    certificates.check,
    applications.check,
    mail.check,
    databases.check,
    monitoring.check,
    firewall.check,
    secrets.check,
    admins.check,
    applications.check_links,
)
