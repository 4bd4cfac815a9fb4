"""Which agency a certificate file belongs to, from the inventory alone.

Two kinds of certificate belong to an agency:

- its organisation certificates, issued by the state's specialised CA and placed by hand on the
  hosts that use them: the entries of ``pdic_certificate_files`` (at any level) that name their
  agency, ``{path: GLOB, agency: ID}``; a bare path or glob is the centre's own;
- the certificate each of its portal sites is served with, ``site-<name>`` in the portal hosts'
  ``pki_cert_dir`` (sites with ``tls`` files of their own are not pdic's certificates).

A file's agency is that of the first entry with an agency whose glob matches it (shell glob
rules: ``*`` and ``?`` never match ``/``), so ``{path: /x/so-tu-phap*.crt, agency: so-tu-phap}``
wins over a catch-all ``/x/*.crt``; every other file is the centre's own (``""``). ``pdic cert
list --agency`` and the pdic exporter's ``agency`` label (through the ``pdic_exporter_certificates``
filter) both read it from here.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DEFAULT_CERT_DIR = "/etc/pdic/pki"
PORTAL_GROUP = "portal"

Owned = Sequence[tuple[str, str]]
"""(path or glob, agency) pairs, in the order they decide."""


def entry_path(entry: Any) -> str:
    """The path or glob of one ``pdic_certificate_files`` entry (a string or a mapping)."""
    if isinstance(entry, Mapping):
        return str(entry.get("path", ""))
    return str(entry)


def entry_agency(entry: Any) -> str:
    """The agency one entry names, ``""`` for the centre's own."""
    if isinstance(entry, Mapping) and entry.get("agency"):
        return str(entry["agency"])
    return ""


def site_certificates(sites: Any, cert_dir: str) -> list[tuple[str, str]]:
    """(``<cert_dir>/site-<name>.crt``, agency) of every site the centre's CA certifies."""
    out = []
    for site in sites or []:
        if not isinstance(site, Mapping) or not site.get("name"):
            continue
        if isinstance(site.get("tls"), Mapping):
            continue
        path = f"{cert_dir.rstrip('/')}/site-{site['name']}.crt"
        out.append((path, str(site.get("agency") or "")))
    return out


def owned(variables: Mapping[str, Any], groups: Iterable[str]) -> list[tuple[str, str]]:
    """The (glob, agency) pairs of a host with these variables and groups, agencies only."""
    found = [
        (entry_path(e), entry_agency(e))
        for e in variables.get("pdic_certificate_files") or []
        if entry_agency(e)
    ]
    if PORTAL_GROUP in groups:
        cert_dir = str(variables.get("pki_cert_dir") or DEFAULT_CERT_DIR)
        sites = site_certificates(variables.get("portal_sites"), cert_dir)
        found += [(path, agency) for path, agency in sites if agency]
    return found


def glob_match(pattern: str, path: str) -> bool:
    """Whether the shell would expand ``pattern`` to ``path`` (component by component)."""
    parts, names = pattern.split("/"), path.split("/")
    return len(parts) == len(names) and all(
        re.fullmatch(fnmatch.translate(p), n) is not None for p, n in zip(parts, names, strict=True)
    )


def agency_of(path: str, pairs: Owned) -> str:
    """The agency of the file at ``path``: the first pair whose glob matches it, else ``""``."""
    return next((agency for glob, agency in pairs if glob_match(glob, path)), "")


def exporter_certificates(
    names: Iterable[str],
    cert_dir: str,
    files: Iterable[Any] = (),
    sites: Any = None,
    groups: Iterable[str] = (),
) -> list[str | dict[str, str]]:
    """The pdic exporter's certificate paths of a host: ``<cert_dir>/<name>.crt`` of each
    pki_cert entry, then the ``pdic_certificate_files`` entries; each one of an agency as
    ``{path, agency}``, the centre's own as a bare path."""
    site_agency = dict(site_certificates(sites, cert_dir)) if PORTAL_GROUP in list(groups) else {}
    out: list[str | dict[str, str]] = []
    for name in dict.fromkeys(str(n) for n in names):
        path = f"{cert_dir.rstrip('/')}/{name}.crt"
        agency = site_agency.get(path, "")
        out.append({"path": path, "agency": agency} if agency else path)
    for entry in files or []:
        agency = entry_agency(entry)
        out.append({"path": entry_path(entry), "agency": agency} if agency else entry_path(entry))
    return out
