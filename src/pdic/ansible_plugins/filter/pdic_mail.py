"""Ansible filters of the mail role: pdic's own answers about the inventory's mail data.

- ``mail_domains | pdic_mail_hosted_domains(host, default_host)``: the domains ``host`` keeps.
- ``mail_domains | pdic_mail_domain_hosts(default_host)``: every domain and its host.
- ``mail_mailboxes | pdic_mail_desired(mail_domains, host, default_host)``: the host's mailbox
  list, ``[address, quota, state]`` sorted (what ``pdic-mail-sync`` receives).
- ``mail_aliases | pdic_mail_aliases(mail_domains, host, default_host, rows, postmaster)``:
  ``[address, target, ...]`` of the aliases in the host's domains, then postmaster@ and abuse@
  of each of those domains that its mailboxes (``rows``) and aliases leave out.
- ``addresses | pdic_mail_password_hashes(seed)``: ``{address: "{SHA512-CRYPT}..."}`` of the
  initial passwords of those mailboxes.

They are :mod:`pdic.mail.model` and :mod:`pdic.mail.passwords`, imported from the source tree
this file sits in, so ``pdic mail diff`` and a deploy compute the same lists.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_SRC = str(Path(__file__).resolve().parents[3])
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

# At import, not at each call: see pdic_apps.
from pdic.mail import model, passwords  # noqa: E402


def hosted_domains(domains: Any, host: str, default_host: str) -> list[str]:
    return list(model.hosted_domains(domains, str(host), str(default_host)))


def domain_hosts(domains: Any, default_host: str) -> dict[str, str]:
    return dict(model.domain_hosts(domains, str(default_host)))


def desired(mailboxes: Any, domains: Any, host: str, default_host: str) -> list[list[str]]:
    return list(model.desired_rows(mailboxes, domains, str(host), str(default_host)))


def aliases(
    entries: Any, domains: Any, host: str, default_host: str, rows: Any = (), postmaster: str = ""
) -> list[list[str]]:
    return list(
        model.hosted_aliases(entries, domains, str(host), str(default_host), rows, str(postmaster))
    )


def password_hashes(addresses: Any, seed: str) -> dict[str, str]:
    return dict(passwords.password_hashes(str(seed), [str(a) for a in addresses or []]))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pdic_mail_hosted_domains": hosted_domains,
            "pdic_mail_domain_hosts": domain_hosts,
            "pdic_mail_desired": desired,
            "pdic_mail_aliases": aliases,
            "pdic_mail_password_hashes": password_hashes,
        }
