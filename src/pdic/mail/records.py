"""`pdic mail dns-records`: the DNS records each mail domain needs, in zone-file format.

For every domain of ``mail_domains`` (or one, ``--domain``): an MX naming the host that keeps its
mailboxes (``<host>.<pdic_domain>``), an SPF record admitting the domain's MX only, one DKIM
record per key found on that host, and a DMARC policy. The DKIM public keys are read from the
hosts themselves, over SSH as the operations account with sudo (as ``pdic cert list`` reads
certificates): each key file under the mail role's ``mail_dkim_dir``
(``<dir>/<domain>/<selector>.private``) gives its public key through ``openssl pkey``, so the
private keys never leave the host and the records are those of the keys that sign.

Parsing and formatting are pure functions of what the hosts printed, tested with recorded
output. It does not publish anything in DNS or check what DNS says.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from pdic.inventory import Host, Inventory
from pdic.mail.model import (
    DEFAULT_DKIM_DIR,
    Connect,
    MailError,
    default_host,
    domain_hosts,
    fqdn,
    mail_hosts,
    run_on,
)

SPF = "v=spf1 mx -all"
DMARC = "v=DMARC1; p=quarantine"
MX_PREFERENCE = 10
TXT_CHUNK = 255
DIR_RE = re.compile(r"/[A-Za-z0-9._/-]*")


@dataclass(frozen=True)
class HostKeys:
    """The DKIM public keys one host gave: domain -> selector -> DER SubjectPublicKeyInfo."""

    host: str
    keys: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Records:
    """The zone text, the domains without a key on their host, and hosts that failed."""

    text: str
    missing: tuple[str, ...]
    errors: Mapping[str, str]


def key_script(dkim_dir: str) -> str:
    """A POSIX sh script printing ``dkim<TAB>DOMAIN<TAB>SELECTOR<TAB>BASE64`` per key file."""
    if not DIR_RE.fullmatch(dkim_dir):
        raise MailError(f"mail_dkim_dir: {dkim_dir!r} is not an absolute path")
    return (
        f"for f in {shlex.quote(dkim_dir.rstrip('/'))}/*/*.private; do "
        '[ -f "$f" ] || continue; d=${f%/*}; d=${d##*/}; s=${f##*/}; s=${s%.private}; '
        'k=$(openssl pkey -in "$f" -pubout -outform DER | base64 -w0) || exit 1; '
        'printf \'dkim\\t%s\\t%s\\t%s\\n\' "$d" "$s" "$k"; done; true'
    )


def parse_keys(host: str, output: str) -> HostKeys:
    """What :func:`key_script` printed on ``host``."""
    keys: dict[str, dict[str, bytes]] = {}
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) != 4 or fields[0] != "dkim":
            continue
        try:
            der = base64.b64decode(fields[3], validate=True)
        except binascii.Error:
            continue
        keys.setdefault(fields[1].lower(), {})[fields[2]] = der
    return HostKeys(host, keys)


def dkim_value(der: bytes) -> str:
    """The DKIM key record of a public key (RFC 6376: ``k=rsa``; RFC 8463: ``k=ed25519``)."""
    key = load_der_public_key(der)
    if isinstance(key, rsa.RSAPublicKey):
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = der[-32:]
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
    raise MailError(f"unsupported DKIM key type {type(key).__name__}")


def txt_strings(value: str) -> list[str]:
    """A TXT record's character strings: the value, or pieces of at most 255 characters (a DKIM
    key does not fit in one), the key split off its tags."""
    if len(value) <= TXT_CHUNK:
        return [value]
    head, _, key = value.partition("p=")
    rest = "p=" + key
    return ([head] if head else []) + [
        rest[i : i + TXT_CHUNK] for i in range(0, len(rest), TXT_CHUNK)
    ]


def _record(name: str, width: int, kind: str, data: str | list[str]) -> list[str]:
    """Zone-file lines of one record; several TXT strings in parentheses, one per line."""
    lead = f"{name:<{width}} IN {kind:<3} "
    if isinstance(data, str):
        return [lead + data]
    if len(data) == 1:
        return [f'{lead}"{data[0]}"']
    pad = " " * (len(lead) + 2)
    body = [f'{pad}"{part}"' for part in data[1:]]
    body[-1] += " )"
    return [f'{lead}( "{data[0]}"', *body]


def format_zone(
    centre: str,
    domains: Sequence[str],
    hosts: Mapping[str, str],
    names: Mapping[str, str],
    addresses: Mapping[str, str],
    keys: Mapping[str, HostKeys],
) -> tuple[str, list[str]]:
    """The records of ``domains`` (kept on ``hosts[domain]``, named ``names[host]``) and the
    domains whose host gave no DKIM key."""
    lines = [
        f"; DNS records of the mail domains of {centre} (pdic mail dns-records).",
        "; Each MX names the host that keeps the domain's mailboxes; its A record belongs to its",
        "; own zone (the inventory's address is shown: publish the host's public address):",
    ]
    for host in dict.fromkeys(hosts[d] for d in domains):
        lines.append(f";   {names[host]}.  IN A  {addresses[host]}")
    missing = []
    for domain in domains:
        host = hosts[domain]
        found = keys[host].keys.get(domain, {}) if host in keys else {}
        records: list[tuple[str, str, str | list[str]]] = [
            ("@", "MX", f"{MX_PREFERENCE} {names[host]}."),
            ("@", "TXT", txt_strings(SPF)),
        ]
        records += [
            (f"{selector}._domainkey", "TXT", txt_strings(dkim_value(der)))
            for selector, der in sorted(found.items())
        ]
        records.append(("_dmarc", "TXT", txt_strings(DMARC)))
        width = max(len(name) for name, _, _ in records)
        lines += ["", f"; {domain}: mailboxes on {host}", f"$ORIGIN {domain}."]
        if not found:
            missing.append(domain)
            lines.append(f"; no DKIM key on {host} for {domain} yet (deploy the mail role)")
        for name, kind, data in records:
            lines += _record(name, width, kind, data)
    return "\n".join(lines) + "\n", missing


def read_keys(host: Host, connect: Connect) -> HostKeys:
    """Ask one host for its DKIM public keys; a failure is recorded, never raised."""
    script = key_script(str(host.get("mail_dkim_dir") or DEFAULT_DKIM_DIR))
    output, error = run_on(host, connect, script)
    return HostKeys(host.name, error=error) if error else parse_keys(host.name, output)


def dns_records(inventory: Inventory, connect: Connect, domain: str | None = None) -> Records:
    """The records of every mail domain (or ``domain``), DKIM keys read from their hosts."""
    owners = domain_hosts(inventory.vars.get("mail_domains"), default_host(inventory))
    if domain is not None:
        if domain.lower() not in owners:
            known = ", ".join(owners) or "none"
            raise MailError(f"--domain: {domain!r} is not in mail_domains (known: {known})")
        owners = {domain.lower(): owners[domain.lower()]}
    if not owners:
        raise MailError(f"{inventory.path}: mail_domains declares no domain")
    hosts = {h.name: h for h in mail_hosts(inventory)}
    needed = [hosts[name] for name in dict.fromkeys(owners.values())]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(needed)))) as pool:
        keys = {k.host: k for k in pool.map(lambda h: read_keys(h, connect), needed)}
    text, missing = format_zone(
        str(inventory.vars.get("pdic_centre_name") or inventory.path.name),
        list(owners),
        owners,
        {name: fqdn(inventory, host) for name, host in hosts.items()},
        {name: host.address for name, host in hosts.items()},
        keys,
    )
    errors = {k.host: k.error for k in keys.values() if k.error}
    return Records(text, tuple(missing), errors)


_RECORD = re.compile(r'^(\S+)\s+IN\s+TXT\s+(\(.*?\)|"[^"]*")', re.M | re.S)


def txt_records(zone: str) -> dict[str, str]:
    """Reads back what :func:`format_zone` printed: fully qualified name (with a final dot) to
    the TXT data, its strings joined (what a resolver hands a DKIM verifier)."""
    out: dict[str, str] = {}
    for block in zone.split("$ORIGIN ")[1:]:
        origin = block.split("\n", 1)[0].strip()
        for name, data in _RECORD.findall(block):
            fqdn_ = origin if name == "@" else f"{name}.{origin}"
            out[fqdn_] = "".join(re.findall(r'"([^"]*)"', data))
    return out
