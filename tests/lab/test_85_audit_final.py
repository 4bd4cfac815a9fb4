"""The whole catalogue after the deploy and every service test: on every host, each control
passes, is waived (the lab's waivers), or does not apply. Run late in the session, when the
centre has done what it does in service: backups taken, a restore drill recorded, mail and
applications deployed and used.
"""

from __future__ import annotations

from pathlib import Path

from audit_json import results
from conftest import Run, lab_audit

from pdic.inventory import Inventory

ACCEPTED = ("pass", "waived", "not_applicable")


def test_every_control_passes_or_is_waived_on_every_host(
    redeployed: Run,
    inventory: Inventory,
    tmp_path: Path,
) -> None:
    document = lab_audit(tmp_path)
    found = results(document)
    hosts = {host for _, host in found}
    assert hosts == set(inventory.hosts), sorted(hosts)
    bad = sorted(
        f"{control} {host}: {r['outcome']}: {r.get('message', '')}"
        for (control, host), r in found.items()
        if r["outcome"] not in ACCEPTED
    )
    assert not bad, "\n".join(bad)
