"""Where pdic's own files are: playbooks, roles, ansible.cfg, inventories.

The project root is PDIC_HOME when set, else the nearest directory from the working directory
upwards that holds ``playbooks/site.yml``, else the checkout this package was installed from.
"""

from __future__ import annotations

import os
from pathlib import Path

from pdic.errors import PdicError


def project_root(start: Path | None = None) -> Path:
    env = os.environ.get("PDIC_HOME")
    if env:
        root = Path(env)
        if not (root / "playbooks" / "site.yml").is_file():
            raise PdicError(f"PDIC_HOME={env}: no playbooks/site.yml there")
        return root
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "playbooks" / "site.yml").is_file():
            return d
    source = Path(__file__).resolve().parents[2]
    if (source / "playbooks" / "site.yml").is_file():
        return source
    raise PdicError(
        "cannot find pdic's playbooks/site.yml: run pdic from its checkout or set PDIC_HOME"
    )
