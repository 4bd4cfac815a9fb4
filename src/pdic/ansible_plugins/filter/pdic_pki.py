"""Ansible filter ``pdic_cert_problems``: everything wrong with pki_cert's entries, at once.

The pki_cert role checks its input before anything changes. Written as one assertion per
entry and per rule, that check cost a no-change deploy about 15 s of controller time on the
lab (a portal host carries a certificate per component site); as one filter call per host it
costs milliseconds. Each problem is one line that names the entry and the variable, as the
assertions did.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

_SRC = str(Path(__file__).resolve().parents[3])
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from pdic.inventory.values import certificate_name, unix_name  # noqa: E402

_MODE = re.compile(r"^0[0-7]{3}$")


def _ca_days_left(chain_pem: str, now: dt.datetime) -> int:
    """Days the authority's own certificate (the first of its chain) remains valid."""
    cert = x509.load_pem_x509_certificate(chain_pem.encode())
    after = cert.not_valid_after_utc
    return (after - now).days


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _entry_problems(
    item: Mapping[str, Any],
    authorities: Mapping[str, Mapping[str, Any]],
    chains: Mapping[str, str],
    settings: Mapping[str, Any],
    now: dt.datetime,
) -> list[str]:
    name = item["name"]
    where = f"pki_cert_certificates[{name}]"
    ca = item.get("ca") or settings["default_ca"]
    if ca not in authorities:
        known = ", ".join(authorities)
        return [f"{where}.ca: unknown CA '{ca}' (known: {known})"]
    authority = authorities[ca]
    problems = []

    sans = item.get("sans", [])
    if "common_name" not in item or not _is_list(sans):
        problems.append(
            f"{where}.common_name/sans: not a valid DNS name: (common_name missing)"
            " (lowercase labels of letters, digits and inner hyphens; a wildcard only as '*.'"
            " in front)"
        )
    else:
        names = [str(n) for n in [item["common_name"], *sans]]
        bad = [n for n in names if certificate_name(n) is not None or len(n) > 253]
        if bad:
            problems.append(
                f"{where}.common_name/sans: not a valid DNS name: {', '.join(bad)}"
                " (lowercase labels of letters, digits and inner hyphens; a wildcard only as"
                " '*.' in front)"
            )

    key_type = item.get("key_type") or settings["default_key_type"]
    if key_type not in settings["key_algorithms"] or key_type not in authority.get("key_types", []):
        accepts = ", ".join(authority.get("key_types", []))
        problems.append(
            f"{where}.key_type (default pki_cert_key_type): CA '{ca}' refuses '{key_type}';"
            f" it accepts {accepts}"
        )

    if (
        unix_name(str(item.get("owner", "root"))) is not None
        or unix_name(str(item.get("group", "root"))) is not None
        or not _MODE.match(str(item.get("mode", "0600")))
        or not _is_list(item.get("reload", []))
    ):
        problems.append(
            f"{where}: owner and group must be user/group names, mode a quoted octal string"
            ' such as "0640", reload a list of systemd units'
        )

    lifetime = int(item.get("lifetime_days") or settings["lifetime_days"])
    policy = int(authority.get("max_lifetime_days", 0))
    days_left = _ca_days_left(chains[ca], now) if ca in chains else None
    if lifetime <= 0 or lifetime > policy or (days_left is not None and lifetime > days_left):
        problems.append(
            f"{where}.lifetime_days (default pki_cert_lifetime_days): {lifetime} days is longer"
            f" than CA '{ca}' allows (max_lifetime_days {policy}; the CA's own certificate has"
            f" {days_left if days_left is not None else 'unknown'} days left)"
        )
    return problems


def cert_problems(
    certificates: Sequence[Mapping[str, Any]],
    authorities: Sequence[Mapping[str, Any]],
    chains: Mapping[str, str],
    settings: Mapping[str, Any],
) -> list[str]:
    """One line per problem in the entries, empty when there is none. The role checks first
    that the authorities are given and the entries' names are distinct slugs.

    ``authorities``: pki_cert_authorities; ``chains``: authority name -> its chain's PEM (may
    be empty before the chains are read: then the lifetime is checked against the policy
    only); ``settings``: default_ca, default_key_type, key_algorithms, lifetime_days
    and renew_days, the role's defaults.
    """
    try:
        renew = int(settings["renew_days"])
    except (TypeError, ValueError):
        renew = -1
    problems = [] if renew >= 0 else ["pki_cert_renew_days: must be a number >= 0"]
    by_name = {str(a["name"]): a for a in authorities}
    now = dt.datetime.now(dt.UTC)
    for item in certificates:
        problems.extend(_entry_problems(item, by_name, chains, settings, now))
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pdic_cert_problems": cert_problems}
