"""Ansible filter ``pdic_exporter_certificates``: a host's certificate files for the pdic
exporter, each one an agency owns labelled with it.

``names | pdic_exporter_certificates(cert_dir, pdic_certificate_files, portal_sites,
group_names)``: ``<cert_dir>/<name>.crt`` of each of the host's pki_cert entries, then the
``pdic_certificate_files`` entries; a site certificate on a portal host and an organisation
certificate that names its agency become ``{path, agency}``, the centre's own stay bare paths.
It is :func:`pdic.pki.owners.exporter_certificates`, imported from the source tree this file
sits in, so ``pdic cert list --agency`` and the exporter's ``agency`` label agree.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_SRC = str(Path(__file__).resolve().parents[3])
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

# At import, not at each call: see pdic_apps.
from pdic.pki import owners  # noqa: E402


def exporter_certificates(
    names: Any, cert_dir: str, files: Any = None, sites: Any = None, groups: Any = None
) -> list[Any]:
    return owners.exporter_certificates(
        [str(n) for n in names or []], str(cert_dir), files or [], sites, list(groups or [])
    )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pdic_exporter_certificates": exporter_certificates}
