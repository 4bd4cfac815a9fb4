"""pdic's own systemd units are sandboxed: `systemd-analyze security --offline=true` rates each
unit a role renders from its defaults at most 4.0 (PDIC-SVC-010 asks the hosts the same).

Each template under roles/*/templates/etc/systemd/system/ is rendered with ansible-core's
templar from its role's defaults and vars, plus what a playbook or loop gives it (the values
below, taken from the lab inventory); no playbook runs and nothing reaches a host. Then
systemd-analyze rates the file with ``--threshold=40``, which makes it exit non-zero when the
exposure is above 4.0 (checked below on this machine's systemd). Skipped without
systemd-analyze (an error under CI: Debian's systemd package ships it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from monitoring.test_roles_render import _tool

from pdic.compliance.checks.services import Exposure, parse_exposure

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
UNITS_DIR = Path("templates/etc/systemd/system")
MAX_EXPOSURE = 4.0
APPLICATION: dict[str, Any] = yaml.safe_load(
    (REPO / "inventory/lab/group_vars/all/applications.yml").read_text(encoding="utf-8")
)["pdic_applications"][0]
LAB_APPLICATION = {"title": "", "backup": None, **APPLICATION}
APP = APPLICATION["name"]

# (role, template, unit file name, variables a playbook or a loop adds to the role's own)
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("pdic_exporter", "pdic-exporter.service", "pdic-exporter.service", {}),
    # A mail host: the queue collector adds a netlink socket and the postdrop group.
    (
        "pdic_exporter",
        "pdic-exporter.service",
        "pdic-exporter.service",
        {"pdic_exporter_mail_queue_enabled": True, "pdic_exporter_alert_webhook": True},
    ),
    ("app_service", "pdic-app.service", f"pdic-app-{APP}.service", {}),
    ("app_service", "pdic-app-backup.service", f"pdic-app-backup-{APP}.service", {}),
    ("pki_ca", "pdic-ca-gencrl.service", "pdic-ca-gencrl.service", {}),
    # The TLS server on a host that is both a database host and the repository host.
    (
        "pgbackrest",
        "pgbackrest-server.service",
        "pgbackrest-server.service",
        {"_pgbackrest_is_repo": True, "_pgbackrest_is_db": True},
    ),
    ("pgbackrest", "pgbackrest-backup@.service", "pgbackrest-backup@full.service", {}),
    ("pgbackrest", "pgbackrest-check.service", "pgbackrest-check.service", {}),
    ("hardening", "pdic-sysctl.service", "pdic-sysctl.service", {}),
    ("fail2ban", "pdic-fail2ban-status.service", "pdic-fail2ban-status.service", {}),
    ("aide", "pdic-aide-check.service", "pdic-aide-check.service", {}),
    ("clamav", "pdic-clamav-check.service", "pdic-clamav-check.service", {}),
    ("clamav", "pdic-clamav-scan.service", "pdic-clamav-scan.service", {}),
]


def _trusted(value: Any) -> Any:
    """Role data as Ansible reads it from the role's own files: strings may be templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def render_unit(role: str, template: str, extra: dict[str, Any]) -> str:
    """The unit file ``template`` of ``role`` as the role writes it with ``extra`` variables."""
    variables: dict[str, Any] = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        path = ROLES / role / name
        if path.exists():
            variables.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    variables.update(
        ansible_managed="Ansible managed",
        inventory_hostname="host-1",
        playbook_dir=str(REPO / "playbooks"),
        item=LAB_APPLICATION,
        **extra,
    )
    templar = Templar(loader=DataLoader(), variables=_trusted(variables))
    source = (ROLES / role / UNITS_DIR / f"{template}.j2").read_text(encoding="utf-8")
    return str(templar.template(trust_as_template(source)))


def rate(unit: Path, threshold: int) -> tuple[subprocess.CompletedProcess[str], Exposure | None]:
    """systemd-analyze's verdict on a unit file, and the exposure it printed."""
    proc = subprocess.run(
        [
            _tool("systemd-analyze"),
            "security",
            "--offline=true",
            f"--threshold={threshold}",
            "--no-pager",
            str(unit),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return proc, parse_exposure(proc.stdout).get(unit.name)


def test_every_unit_template_of_a_role_is_rated_here() -> None:
    templates = {
        (path.parts[-6], path.name.removesuffix(".j2"))
        for path in ROLES.glob(f"*/{UNITS_DIR}/*.service.j2")
    }
    assert templates == {(role, template) for role, template, _, _ in CASES}


@pytest.mark.parametrize(
    ("role", "template", "name", "extra"),
    CASES,
    ids=[f"{c[2]}{'+' + ','.join(c[3]) if c[3] else ''}" for c in CASES],
)
def test_unit_is_sandboxed(
    role: str, template: str, name: str, extra: dict[str, Any], tmp_path: Path
) -> None:
    unit = tmp_path / name
    unit.write_text(render_unit(role, template, extra), encoding="utf-8")
    proc, exposure = rate(unit, int(MAX_EXPOSURE * 10))
    assert exposure is not None, proc.stdout + proc.stderr
    assert exposure.score <= MAX_EXPOSURE, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("threshold", "rc_is_zero"), [(96, True), (95, False)])
def test_threshold_fails_only_above_it(threshold: int, rc_is_zero: bool, tmp_path: Path) -> None:
    # An unsandboxed root service is rated 9.6: --threshold=96 passes it, 95 does not.
    unit = tmp_path / "bare.service"
    unit.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n", encoding="utf-8")
    proc, exposure = rate(unit, threshold)
    assert exposure == Exposure(9.6, "UNSAFE")
    assert (proc.returncode == 0) is rc_is_zero, proc.stderr
