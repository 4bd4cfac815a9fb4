"""The certificate register: every certificate in the centre, read from the hosts.

Each host is asked, over SSH as the operations account with sudo, for the certificate files
the inventory names for it (:func:`certificate_globs`): the certificates pdic issued
(``pki_cert_dir``/\\*.crt) and whatever ``pdic_certificate_files`` adds, such as organisation
signing certificates placed by hand on e-office hosts. The CA hosts (group ``pki``) also
give their published CRLs (``pki_ca_publish_dir``/\\*.crl.pem), which say which certificates
are revoked. Each entry carries the agency that owns its certificate, ``""`` for the centre's
own (:mod:`pdic.pki.owners`: an agency's site and organisation certificates). Parsing and
formatting are pure functions over the bytes read, so they are tested without hosts.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from pdic.arguments import shown
from pdic.errors import CertError
from pdic.inventory import Host, Inventory
from pdic.pki import owners

DEFAULT_CERT_DIR = "/etc/pdic/pki"
DEFAULT_PUBLISH_DIR = "/var/www/pdic-ca"
CA_GROUP = "pki"  # the CA hosts: their CRLs, and the one revoke runs on (the first)
# Absolute paths with shell glob characters only: they are expanded by sh on the host.
GLOB_RE = re.compile(r"^/[A-Za-z0-9._/*?\[\]+@:-]*$")
FORMATS = ("table", "json", "csv")
COLUMNS = (
    "host",
    "path",
    "subject",
    "sans",
    "issuer",
    "serial",
    "not_after",
    "days_left",
    "revoked",
    "agency",
)


@dataclass(frozen=True)
class HostFiles:
    """What one host gave: certificate and CRL files (path -> bytes), or why it could not."""

    host: str
    certificates: Mapping[str, bytes] = field(default_factory=dict)
    crls: Mapping[str, bytes] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class CertificateEntry:
    """One certificate of the register. ``revoked`` is None when no CRL of its issuer was read."""

    host: str
    path: str
    subject: str
    sans: tuple[str, ...]
    issuer: str
    serial: str
    not_after: dt.datetime
    days_left: int
    revoked: bool | None
    agency: str = ""

    def row(self) -> dict[str, Any]:
        """The entry as plain JSON values, keys in :data:`COLUMNS` order."""
        return {
            "host": self.host,
            "path": self.path,
            "subject": self.subject,
            "sans": list(self.sans),
            "issuer": self.issuer,
            "serial": self.serial,
            "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_left": self.days_left,
            "revoked": self.revoked,
            "agency": self.agency,
        }


@dataclass(frozen=True)
class Register:
    entries: tuple[CertificateEntry, ...]
    # host -> why it could not be read (unreachable, sudo refused, ...).
    errors: Mapping[str, str]
    # path on a host -> why its content is not a certificate.
    unreadable: Mapping[str, str]
    # CA host outside the hosts read -> why its CRLs could not be read (revocation unknown).
    crl_errors: Mapping[str, str] = field(default_factory=dict)


def certificate_globs(host: Host) -> list[str]:
    """The certificate files (shell globs) the inventory names for ``host``."""
    cert_dir = str(host.get("pki_cert_dir") or DEFAULT_CERT_DIR).rstrip("/")
    extra = host.get("pdic_certificate_files") or []
    return [f"{cert_dir}/*.crt", *(owners.entry_path(p) for p in extra)]


def certificate_owners(host: Host) -> list[tuple[str, str]]:
    """(glob, agency) of the certificates an agency owns on ``host`` (:mod:`pdic.pki.owners`)."""
    return owners.owned(host.vars, host.groups)


def crl_globs(host: Host) -> list[str]:
    """The published CRLs to read on ``host``: those of a CA host, none elsewhere."""
    if CA_GROUP not in host.groups:
        return []
    publish = str(host.get("pki_ca_publish_dir") or DEFAULT_PUBLISH_DIR).rstrip("/")
    return [f"{publish}/*.crl.pem"]


def read_script(certificates: Sequence[str], crls: Sequence[str]) -> str:
    """A POSIX sh script printing ``KIND<TAB>PATH<TAB>BASE64`` for every file matched.

    Globs are validated first (:data:`GLOB_RE`), so they are safe to leave unquoted for sh to
    expand; a glob that matches nothing gives nothing.
    """
    for glob in (*certificates, *crls):
        if not GLOB_RE.match(glob):
            raise CertError(f"certificate path {glob!r} is not an absolute path or shell glob")
    parts = []
    for kind, globs in (("cert", certificates), ("crl", crls)):
        if globs:
            parts.append(
                f'for f in {" ".join(globs)}; do [ -f "$f" ] || continue; '
                f'printf \'{kind}\\t%s\\t%s\\n\' "$f" "$(base64 -w0 < "$f")"; done'
            )
    return "; ".join(parts) + "; true"


def parse_listing(host: str, output: str) -> HostFiles:
    """The files of one host from :func:`read_script`'s output."""
    certificates: dict[str, bytes] = {}
    crls: dict[str, bytes] = {}
    for line in output.splitlines():
        kind, _, rest = line.partition("\t")
        path, _, data = rest.partition("\t")
        if kind not in ("cert", "crl") or not path:
            continue
        try:
            content = base64.b64decode(data, validate=True)
        except binascii.Error:
            content = b""
        (certificates if kind == "cert" else crls)[path] = content
    return HostFiles(host, certificates, crls)


def _load_certificates(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    names: list[str] = []
    for name in ext.value:
        if isinstance(name, x509.DNSName | x509.RFC822Name | x509.UniformResourceIdentifier):
            names.append(name.value)
        elif isinstance(name, x509.IPAddress):
            names.append(str(name.value))
    return tuple(names)


def serial_hex(number: int) -> str:
    """A serial number as openssl prints it: uppercase hex, an even number of digits."""
    digits = format(number, "X")
    return digits.zfill(len(digits) + len(digits) % 2)


def revoked_serials(crls: Iterable[bytes]) -> dict[str, set[int]]:
    """Issuer (RFC 4514) -> serial numbers revoked, from PEM or DER CRLs.

    Unparsable CRLs are skipped: a certificate whose issuer has no CRL read stays "unknown".
    """
    revoked: dict[str, set[int]] = {}
    for data in crls:
        try:
            crl = (
                x509.load_pem_x509_crl(data)
                if b"-----BEGIN X509 CRL-----" in data
                else x509.load_der_x509_crl(data)
            )
        except ValueError:
            continue
        serials = revoked.setdefault(crl.issuer.rfc4514_string(), set())
        serials.update(r.serial_number for r in crl)
    return revoked


def build_register(
    files: Sequence[HostFiles],
    now: dt.datetime,
    owned: Mapping[str, owners.Owned] | None = None,
) -> Register:
    """Entries for every certificate of every file, sorted by expiry (soonest first); ``owned``
    gives each host's (glob, agency) pairs, the agency of its files."""
    owned = owned or {}
    revoked = revoked_serials(data for f in files for data in f.crls.values())
    entries: list[CertificateEntry] = []
    unreadable: dict[str, str] = {}
    for f in files:
        for path, data in sorted(f.certificates.items()):
            try:
                certs = _load_certificates(data)
            except ValueError:
                unreadable[f"{f.host}:{path}"] = "not a PEM or DER certificate"
                continue
            for cert in certs:
                not_after = cert.not_valid_after_utc
                issuer = cert.issuer.rfc4514_string()
                known = revoked.get(issuer)
                entries.append(
                    CertificateEntry(
                        host=f.host,
                        path=path,
                        subject=cert.subject.rfc4514_string(),
                        sans=_sans(cert),
                        issuer=issuer,
                        serial=serial_hex(cert.serial_number),
                        not_after=not_after,
                        days_left=(not_after - now).days,
                        revoked=None if known is None else cert.serial_number in known,
                        agency=owners.agency_of(path, owned.get(f.host, ())),
                    )
                )
    entries.sort(key=lambda e: (e.not_after, e.host, e.path))
    errors = {f.host: f.error for f in files if f.error}
    return Register(tuple(entries), errors, unreadable)


_DURATION_RE = re.compile(r"[ \t]*([0-9]+)[ \t]*([dhw]?)[ \t]*")
_UNIT_SECONDS = {"": 86400, "d": 86400, "h": 3600, "w": 7 * 86400}
MAX_DURATION_DAYS = 100 * 365
"""``--expiring`` looks at most a century ahead (no certificate lives that long)."""


def parse_duration(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``2w`` or a bare number of days (ASCII digits, at most a century)."""
    match = _DURATION_RE.fullmatch(text)
    if not match:
        raise CertError(f"--expiring: {shown(text)} is not a duration like 30d, 12h or 2w")
    # Compared before timedelta is built: a huge number would overflow it.
    if len(match[1]) > 12 or int(match[1]) * _UNIT_SECONDS[match[2]] > MAX_DURATION_DAYS * 86400:
        raise CertError(f"--expiring: {shown(text)} is longer than {MAX_DURATION_DAYS} days")
    return dt.timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def expiring(
    entries: Iterable[CertificateEntry], within: dt.timedelta, now: dt.datetime
) -> list[CertificateEntry]:
    """The entries whose notAfter falls before ``now + within`` (expired ones included)."""
    return [e for e in entries if e.not_after <= now + within]


def _revoked_text(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def format_json(entries: Sequence[CertificateEntry]) -> str:
    return json.dumps([e.row() for e in entries], indent=2, ensure_ascii=False) + "\n"


def format_csv(entries: Sequence[CertificateEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in entries:
        row = e.row()
        row["sans"] = " ".join(e.sans)
        row["revoked"] = _revoked_text(e.revoked)
        writer.writerow([row[c] for c in COLUMNS])
    return out.getvalue()


def format_table(entries: Sequence[CertificateEntry]) -> str:
    """Aligned plain-text columns; long SAN lists are shortened to the first and a count."""
    header = (
        "HOST",
        "PATH",
        "SUBJECT",
        "SANS",
        "ISSUER",
        "SERIAL",
        "NOT AFTER",
        "DAYS",
        "REVOKED",
        "AGENCY",
    )
    rows = [header]
    for e in entries:
        sans = ", ".join(e.sans[:2]) + (f" (+{len(e.sans) - 2})" if len(e.sans) > 2 else "")
        rows.append(
            (
                e.host,
                e.path,
                e.subject,
                sans,
                e.issuer,
                e.serial,
                e.not_after.strftime("%Y-%m-%d"),
                str(e.days_left),
                _revoked_text(e.revoked),
                e.agency,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n"
        for r in rows
    )


FORMATTERS: dict[str, Callable[[Sequence[CertificateEntry]], str]] = {
    "table": format_table,
    "json": format_json,
    "csv": format_csv,
}


def read_host(host: Host, connect: Callable[[Host], Any]) -> HostFiles:
    """Ask one host for its files; a failure is recorded, never raised."""
    try:
        script = read_script(certificate_globs(host), crl_globs(host))
        result = connect(host).run(script)
    except CertError:
        raise
    except Exception as exc:  # any connection failure is reported per host
        return HostFiles(host.name, error=f"{type(exc).__name__}: {exc}".strip())
    if result.rc != 0:
        return HostFiles(host.name, error=(result.stderr or result.stdout).strip()[:300])
    return parse_listing(host.name, result.stdout)


def collect(
    inventory: Inventory,
    limit: str | None,
    connect: Callable[[Host], Any],
    now: dt.datetime,
    workers: int = 16,
) -> Register:
    """The register of the hosts selected by ``limit``; CRLs always come from the CA hosts."""
    hosts = inventory.select(limit)
    for host in hosts:
        for glob in (*certificate_globs(host), *crl_globs(host)):
            if not GLOB_RE.match(glob):
                raise CertError(
                    f"{host.name}: pdic_certificate_files: {glob!r} is not an absolute path or "
                    "shell glob"
                )
    names = {h.name for h in hosts}
    ca_only = [h for h in inventory.select(CA_GROUP) if h.name not in names]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts) + len(ca_only)))) as pool:
        files = list(pool.map(lambda h: read_host(h, connect), hosts))
        ca_files = list(pool.map(lambda h: read_host(h, connect), ca_only))
    # A CA host outside --limit lends its CRLs, not its certificates.
    files += [HostFiles(f.host, {}, f.crls, None) for f in ca_files]
    found = build_register(files, now, {h.name: certificate_owners(h) for h in hosts})
    crl_errors = {f.host: f.error for f in ca_files if f.error}
    return Register(found.entries, found.errors, found.unreadable, crl_errors)


def of_agency(entries: Iterable[CertificateEntry], agency: str) -> list[CertificateEntry]:
    """The entries of the certificates ``agency`` owns."""
    return [e for e in entries if e.agency == agency]


def agency_hosts(inventory: Inventory, agency: str) -> list[str]:
    """The hosts that hold a certificate ``agency`` owns, as the inventory says (a --limit)."""
    return [
        h.name
        for h in inventory.hosts.values()
        if any(owner == agency for _, owner in certificate_owners(h))
    ]
