"""The control catalogue in compliance/: its content, and the errors a broken one gives."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from pdic.compliance.catalogue import (
    SEVERITIES,
    Catalogue,
    ComplianceError,
    check_group_coverage,
    load_catalogue,
    load_waivers,
    missing_enforcers,
    uncovered_groups,
)
from pdic.compliance.checks import registry
from pdic.inventory import load_inventory
from pdic.inventory.model import KNOWN_GROUPS

from .fakes import REPO

CATALOGUE = REPO / "compliance"
AREAS = {"ssh", "accounts", "logging", "network", "services", "files", "updates", "backups"}
VIETNAMESE = re.compile("[\u00c0-\u01b0\u1ea0-\u1ef9]")  # letters with Vietnamese diacritics


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(CATALOGUE)


def test_at_least_60_controls_in_exactly_the_issue_areas(catalogue: Catalogue) -> None:
    assert len(catalogue) >= 60
    assert set(catalogue.by_area()) == AREAS


def test_every_control_is_complete(catalogue: Catalogue) -> None:
    for control in catalogue.controls.values():
        assert control.severity in SEVERITIES
        assert VIETNAMESE.search(control.title.vi), control.id
        assert VIETNAMESE.search(control.rationale.vi), control.id
        assert control.title.en and control.rationale.en
        assert set(control.checks) <= set(registry())
        assert control.mappings["tcvn_11930_2017"], f"{control.id} maps to no TCVN clause"
        assert "cis_debian" in control.mappings


def test_every_check_is_used_by_a_control(catalogue: Catalogue) -> None:
    used = {name for control in catalogue.controls.values() for name in control.checks}
    assert set(registry()) == used


def test_tcvn_clauses_come_from_the_framework_file(catalogue: Catalogue) -> None:
    tcvn = catalogue.frameworks["tcvn_11930_2017"]
    assert "7.2.2.1" in tcvn.clauses and tcvn.clauses["7.2.1.1"].inferred
    assert not tcvn.clauses["7.2.3.1"].inferred
    assert tcvn.clauses["7.2.1.7"].title is not None
    assert tcvn.clauses["7.2.1.7"].title.vi == "Bảo vệ thiết bị hệ thống"


def test_auditd_controls_are_not_applicable_in_containers(catalogue: Catalogue) -> None:
    auditd = [c for c in catalogue.controls.values() if "audit" in " ".join(c.checks)]
    assert len(auditd) == 4
    assert all(not c.container.applicable and "container" in c.container.reason for c in auditd)


def test_every_inventory_group_is_covered(catalogue: Catalogue) -> None:
    check_group_coverage(catalogue, KNOWN_GROUPS)
    assert uncovered_groups(catalogue, [*KNOWN_GROUPS, "dns"]) == ["dns"]
    with pytest.raises(ComplianceError, match=r"inventory: groups.dns: no control covers"):
        check_group_coverage(catalogue, ["portal", "dns"])


def test_params_by_group_merge_all_and_the_host_groups(catalogue: Catalogue) -> None:
    control = catalogue.controls["PDIC-NET-002"]
    assert control.check_params("network_firewall_allowlist", ["db"]) == {
        "allowed_tcp_ports": [22, 9100, 9469, 5432, 9187, 8432]
    }
    assert control.applies_to(["db"])
    assert not catalogue.controls["PDIC-SVC-005"].applies_to(["db"])


def test_params_from_the_inventory_take_the_hosts_value_or_the_checks_default(
    catalogue: Catalogue,
) -> None:
    control = catalogue.controls["PDIC-SSH-001"]
    lab = {"ssh_hardening_root_login_from": ["10.251.0.1/32"]}
    assert control.check_params("ssh_root_login_disabled", ["hcc"], lab) == {
        "allowed_from": ["10.251.0.1/32"]
    }
    assert control.check_params("ssh_root_login_disabled", ["hcc"], {}) == {}
    assert control.check_params("ssh_root_login_disabled", ["hcc"]) == {}


def test_missing_enforcers_lists_variables_no_role_defines(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    role = tmp_path / "roles" / "ssh_hardening" / "defaults"
    role.mkdir(parents=True)
    (role / "main.yml").write_text("ssh_hardening_permit_root_login: 'no'\n", encoding="utf-8")
    missing = missing_enforcers(catalogue, tmp_path / "roles")
    assert not any(line.startswith("PDIC-SSH-001:") for line in missing)
    assert "PDIC-SSH-002: enforced_by ssh_hardening_password_authentication" in "\n".join(missing)


GOOD = """\
  - id: PDIC-SSH-900
    title: {vi: Không cho root đăng nhập, en: No root login}
    rationale: {vi: Truy vết theo người dùng., en: Traceability.}
    severity: critical
    groups: [all]
    mappings: {tcvn_11930_2017: ["7.2.2.1"], cis_debian: ["5.1.20"]}
    inferred_mappings: [tcvn_11930_2017]
    checks: [ssh_root_login_disabled]
    enforced_by: ssh_hardening_permit_root_login
    container: applicable
"""


def write_catalogue(tmp_path: Path, controls: str, name: str = "ssh.yml") -> Path:
    root = tmp_path / "compliance"
    shutil.copytree(CATALOGUE / "frameworks", root / "frameworks")
    (root / "controls").mkdir()
    (root / "controls" / name).write_text("controls:\n" + controls, encoding="utf-8")
    return root


def test_a_minimal_catalogue_loads(tmp_path: Path) -> None:
    catalogue = load_catalogue(write_catalogue(tmp_path, GOOD))
    assert list(catalogue.controls) == ["PDIC-SSH-900"]


BROKEN = {
    "duplicate id": (
        GOOD + GOOD,
        "controls/ssh.yml: controls[1].id: duplicate id PDIC-SSH-900 (also in controls/ssh.yml)",
    ),
    "missing vi title": (
        GOOD.replace("title: {vi: Không cho root đăng nhập, en: No root login}", "title: {en: x}"),
        "controls/ssh.yml: controls[0].title: missing vi text",
    ),
    "unknown severity": (
        GOOD.replace("severity: critical", "severity: urgent"),
        "controls/ssh.yml: controls[0].severity: unknown severity 'urgent'",
    ),
    "unknown group": (
        GOOD.replace("groups: [all]", "groups: [all, dns]"),
        "controls/ssh.yml: controls[0].groups[1]: unknown group 'dns'",
    ),
    "unknown check": (
        GOOD.replace("checks: [ssh_root_login_disabled]", "checks: [ssh_root_login_off]"),
        "controls/ssh.yml: controls[0].checks[0]: unknown check 'ssh_root_login_off'",
    ),
    "bad clause": (
        GOOD.replace('["7.2.2.1"]', '["6.2.2.1"]'),
        "controls/ssh.yml: controls[0].mappings.tcvn_11930_2017[0]: '6.2.2.1' is not a clause",
    ),
    "bad cis id": (
        GOOD.replace('["5.1.20"]', '["SSH-1"]'),
        "controls/ssh.yml: controls[0].mappings.cis_debian[0]: 'SSH-1' does not look like",
    ),
    "unknown framework": (
        GOOD.replace("cis_debian:", "nist: [], cis_debian:"),
        "controls/ssh.yml: controls[0].mappings.nist: unknown framework",
    ),
    "missing framework": (
        GOOD.replace(', cis_debian: ["5.1.20"]', ""),
        "controls/ssh.yml: controls[0].mappings.cis_debian: is missing",
    ),
    "inferred not declared": (
        GOOD.replace("inferred_mappings: [tcvn_11930_2017]", "inferred_mappings: []"),
        "controls/ssh.yml: controls[0].inferred_mappings: must be ['tcvn_11930_2017']",
    ),
    "unknown param": (
        GOOD.replace(
            "    enforced_by:",
            "    params: {ssh_root_login_disabled: {maximum: 3}}\n    enforced_by:",
        ),
        "controls/ssh.yml: controls[0].params.ssh_root_login_disabled.maximum: unknown parameter",
    ),
    "inventory param naming no variable": (
        GOOD.replace(
            "    enforced_by:",
            "    params: {ssh_root_login_disabled: {allowed_from: {inventory: 3}}}\n"
            "    enforced_by:",
        ),
        "controls/ssh.yml: controls[0].params.ssh_root_login_disabled.allowed_from.inventory: "
        "must be the only key, naming an inventory variable",
    ),
    "inventory param with another key": (
        GOOD.replace(
            "    enforced_by:",
            "    params: {ssh_root_login_disabled: {allowed_from: {inventory: a, default: []}}}\n"
            "    enforced_by:",
        ),
        "controls/ssh.yml: controls[0].params.ssh_root_login_disabled.allowed_from.inventory: "
        "must be the only key",
    ),
    "container without reason": (
        GOOD.replace("container: applicable", "container: {status: not_applicable}"),
        "controls/ssh.yml: controls[0].container.reason: not_applicable needs a reason",
    ),
    "missing key": (
        GOOD.replace("    severity: critical\n", ""),
        "controls/ssh.yml: controls[0].severity: is missing",
    ),
    "unknown key": (
        GOOD.replace("    severity: critical\n", "    severity: critical\n    level: 3\n"),
        "controls/ssh.yml: controls[0].level: unknown key",
    ),
    "bad id": (
        GOOD.replace("PDIC-SSH-900", "ssh-1"),
        "controls/ssh.yml: controls[0].id: 'ssh-1' must look like PDIC-AREA-001",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_catalogue_gives_one_line_naming_file_key_and_problem(
    tmp_path: Path, case: str
) -> None:
    controls, message = BROKEN[case]
    with pytest.raises(ComplianceError) as caught:
        load_catalogue(write_catalogue(tmp_path, controls))
    assert any(line.startswith(message) for line in caught.value.problems), caught.value.problems


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ComplianceError, match=r"controls/ssh.yml: line \d+, column \d+: YAML"):
        load_catalogue(write_catalogue(tmp_path, "  - id: [unclosed\n"))


# waivers


def write_waivers(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_example_waivers_load(catalogue: Catalogue) -> None:
    waivers = load_waivers(CATALOGUE / "waivers.example.yml", catalogue, dt.date(2026, 1, 1))
    assert not waivers.problems and not waivers.expired
    assert waivers.find("PDIC-BAK-004", "backup-1") is not None
    assert waivers.find("PDIC-BAK-004", "db-1") is None
    assert waivers.find("PDIC-LOG-004", "any-host") is not None


def test_lab_waivers_load_and_leave_root_login_to_the_check(catalogue: Catalogue) -> None:
    # The lab's root exception is declared in its inventory and judged by PDIC-SSH-001 itself:
    # a waiver would hide root login enabled by hand on a lab host.
    hosts = load_inventory(REPO / "inventory" / "lab").hosts
    waivers = load_waivers(CATALOGUE / "waivers.lab.yml", catalogue, dt.date(2026, 1, 1), hosts)
    assert not waivers.problems and not waivers.expired
    assert all(waivers.find("PDIC-SSH-001", host) is None for host in hosts)
    assert waivers.find("PDIC-LOG-005", "hcc-1") is not None


def test_expired_waiver_is_returned_as_expired_and_hides_nothing(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    path = write_waivers(
        tmp_path,
        """\
        waivers:
          - {control: PDIC-SSH-001, hosts: [db-1], justification: migration, approver: A,
             expires: 2026-01-31}
        """,
    )
    waivers = load_waivers(path, catalogue, dt.date(2026, 2, 1))
    assert [w.control for w in waivers.expired] == ["PDIC-SSH-001"]
    assert waivers.find("PDIC-SSH-001", "db-1") is None
    assert load_waivers(path, catalogue, dt.date(2026, 1, 31)).find("PDIC-SSH-001", "db-1")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{control: PDIC-SSH-999, hosts: all, justification: j, approver: a,"
            " expires: 2030-01-01}",
            "waivers.yml: waivers[0].control: unknown control id 'PDIC-SSH-999'",
        ),
        (
            "{control: PDIC-SSH-001, hosts: all, justification: j, expires: 2030-01-01}",
            "waivers.yml: waivers[0].approver: is missing",
        ),
        (
            "{control: PDIC-SSH-001, hosts: all, justification: j, approver: a, expires: soon}",
            "waivers.yml: waivers[0].expires: must be a date (YYYY-MM-DD)",
        ),
        (
            "{control: PDIC-SSH-001, hosts: db-1, justification: j, approver: a,"
            " expires: 2030-01-01}",
            "waivers.yml: waivers[0].hosts: must be 'all' or a non-empty list of host names",
        ),
        (
            "{control: PDIC-SSH-001, hosts: all, justification: '', approver: a,"
            " expires: 2030-01-01}",
            "waivers.yml: waivers[0].justification: must be a non-empty text",
        ),
    ],
)
def test_bad_waivers_are_reported(
    catalogue: Catalogue, tmp_path: Path, entry: str, message: str
) -> None:
    path = write_waivers(tmp_path, f"waivers:\n  - {entry}\n")
    waivers = load_waivers(path, catalogue, dt.date(2026, 1, 1))
    assert not waivers.active
    assert waivers.problems == (message,)
    with pytest.raises(ComplianceError, match=re.escape(message)):
        waivers.raise_for_problems()


ROLES = REPO / "roles"


def _enforcing_role(variable: str) -> Path | None:
    """The role a variable belongs to: the longest role name it starts with (``<role>_``)."""
    owners = [r for r in ROLES.iterdir() if r.is_dir() and variable.startswith(f"{r.name}_")]
    return max(owners, key=lambda r: len(r.name)) if owners else None


def _enforced(catalogue_dir: Path) -> list[tuple[str, str]]:
    catalogue = load_catalogue(catalogue_dir)
    return [(c.id, c.enforced_by) for c in catalogue.controls.values() if c.enforced_by]


@pytest.mark.parametrize(("control", "variable"), _enforced(CATALOGUE))
def test_enforcing_variable_is_a_default_of_its_role(control: str, variable: str) -> None:
    role = _enforcing_role(variable)
    assert role is not None, f"{control}: enforced_by {variable} names no role under roles/"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text(encoding="utf-8"))
    assert variable in defaults, (
        f"{control}: enforced_by {variable} is not in roles/{role.name}/defaults/main.yml"
    )


def test_no_control_names_a_variable_no_role_defines(catalogue: Catalogue) -> None:
    assert missing_enforcers(catalogue, ROLES) == []
