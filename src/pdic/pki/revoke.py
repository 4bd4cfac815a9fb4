"""Revocation through the CA host: ``pdic cert revoke HOST:NAME --reason R``.

The CA's key never leaves the CA host (the first host of group ``pki``), so revocation runs
there: ``pdic-ca-revoke`` (installed by the pki_ca role) marks the certificate revoked in the
issuing CA's database and publishes a new CRL at once. The next ``pdic deploy`` issues the host
a new certificate (pki_cert re-issues any certificate its CA has revoked).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pdic.errors import CertError
from pdic.inventory import Host, Inventory
from pdic.pki.register import CA_GROUP

REVOKE_COMMAND = "/usr/local/sbin/pdic-ca-revoke"

# RFC 5280 reasons as openssl names them (removeFromCRL only undoes a hold: not offered).
REASONS = (
    "unspecified",
    "keyCompromise",
    "CACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Revocation:
    host: str
    name: str
    serial: str
    reason: str
    ca_host: str
    already: bool


class RevokeIncomplete(CertError):
    """The certificate is revoked in the CA's database but the CRL is not published yet."""

    outcome = "revoked, CRL not published"


class RevokeUncertain(RevokeIncomplete):
    """The CA host stopped answering once the revocation was sent: it may have run in part,
    in whole or not at all. Running the same revocation again finishes it either way."""

    outcome = "unknown: the CA host stopped answering"


def parse_target(text: str, inventory: Inventory) -> tuple[str, str]:
    """``HOST:NAME`` -> (host, name); the host must be in the inventory."""
    host, sep, name = text.partition(":")
    if not sep or not host or not name:
        raise CertError(f"{text!r}: expected HOST:NAME, e.g. portal-1:host")
    if host not in inventory.hosts:
        raise CertError(f"{text!r}: no host {host!r} in {inventory.path}")
    if not _NAME_RE.match(name):
        raise CertError(f"{text!r}: certificate name {name!r} may hold only letters, digits, . _ -")
    return host, name


def parse_reason(text: str) -> str:
    """A reason in openssl's spelling, accepted in any case and with - or _ between words."""
    wanted = text.replace("-", "").replace("_", "").lower()
    for reason in REASONS:
        if reason.lower() == wanted:
            return reason
    raise CertError(f"--reason: {text!r} is not one of {', '.join(REASONS)}")


def ca_host(inventory: Inventory) -> Host:
    hosts = inventory.select(CA_GROUP)
    if not hosts:
        raise CertError(f"{inventory.path}: no host in group {CA_GROUP!r} runs the CA")
    return hosts[0]


def revoke(
    inventory: Inventory, target: str, reason: str, connect: Callable[[Host], Any]
) -> Revocation:
    """Revoke ``target`` (HOST:NAME) with ``reason`` on the CA host; CertError if refused."""
    host, name = parse_target(target, inventory)
    canonical = parse_reason(reason)
    ca = ca_host(inventory)
    again = f"`pdic cert revoke {target} --reason {canonical}`"
    try:
        # A first command that changes nothing: a CA host that cannot be reached at all is
        # told apart from one that stops answering while it revokes.
        target_host = connect(ca)
        target_host.run("true")
    except Exception as exc:  # reported as one line
        raise CertError(
            f"{ca.name}: cannot reach the CA host ({type(exc).__name__}: {exc}); nothing was "
            "revoked"
        ) from None
    try:
        result = target_host.run("%s %s %s %s", REVOKE_COMMAND, host, name, canonical)
    except Exception as exc:
        raise RevokeUncertain(
            f"{target}: {ca.name} stopped answering once the revocation was sent "
            f"({type(exc).__name__}: {exc}): the CA's database may or may not list it as "
            "revoked, and the CRL may not be published\n"
            f"to finish: {again} once {ca.name} answers (it revokes it, or says it already "
            "is, and publishes the CRL)"
        ) from None
    message = (result.stderr or result.stdout).strip().splitlines()
    last = message[-1] if message else f"exit code {result.rc}"
    if result.rc == 3:
        raise CertError(f"{target}: the CA on {ca.name} issued no certificate {host}:{name}")
    if result.rc == 127:
        raise CertError(f"{ca.name}: {REVOKE_COMMAND} is missing: deploy the pki play first")
    if result.rc == 4:
        serial = result.stdout.strip().rpartition(" ")[2] or "?"
        raise RevokeIncomplete(
            f"{target}: serial {serial} is revoked in the CA's database on {ca.name}, but the "
            f"new CRL was not published ({last}): relying parties still accept it\n"
            f"to finish: {again} again (it publishes the CRL)"
        )
    if result.rc != 0:
        raise CertError(f"{ca.name}: revocation of {target} failed: {last}")
    state, _, serial = result.stdout.strip().rpartition("\n")[2].partition(" ")
    if state not in ("revoked", "already-revoked") or not serial:
        raise CertError(f"{ca.name}: unexpected answer from {REVOKE_COMMAND}: {result.stdout!r}")
    return Revocation(host, name, serial, canonical, ca.name, already=state == "already-revoked")
