"""PDIC-SVC-010: pdic's units rated by `systemd-analyze security`, on recorded outputs.

The outputs under fixtures/systemd-analyze/ were recorded on Debian 12 (systemd 252) from the
units the roles render (fixtures README); the overview table is written by hand in its format.
"""

from __future__ import annotations

import pytest

from pdic.compliance.catalogue import load_catalogue
from pdic.compliance.checks.base import render
from pdic.compliance.checks.services import (
    LIST_UNIT_FILES,
    OVERALL,
    PDIC_UNITS,
    SECURITY,
    Exposure,
    parse_exposure,
    services_units_sandboxed,
)
from pdic.compliance.evaluate import evaluate

from .fakes import REPO, FakeHost, fixture_text

LIST = render(LIST_UNIT_FILES + " %s %s", *PDIC_UNITS)
LISTING = fixture_text("systemd-analyze/list-unit-files.backup-1.txt")
OVERALL_LINES = fixture_text("systemd-analyze/overall.backup-1.txt")
# What backup-1 holds (pdic-lab-sysctl-net.service is the lab's, left out), in listing order.
BACKUP_UNITS = [
    "pdic-aide-check.service",
    "pdic-exporter.service",
    "pdic-fail2ban-status.service",
    "pdic-sysctl.service",
    "pgbackrest-backup@.service",
    "pgbackrest-server.service",
]


def security(units: list[str]) -> str:
    return render(SECURITY + " %s" * len(units) + f" | grep -F '{OVERALL}'", *units)


def _overall(text: str) -> str:
    """What grep keeps of a recorded `systemd-analyze security` output."""
    return "".join(line + "\n" for line in text.splitlines() if OVERALL in line)


def test_the_line_after_each_table_gives_the_exposure() -> None:
    found = parse_exposure(fixture_text("systemd-analyze/pdic-exporter.offline.txt"))
    assert found == {"pdic-exporter.service": Exposure(1.5, "OK")}
    unsandboxed = fixture_text("systemd-analyze/pdic-ca-gencrl.unsandboxed.offline.txt")
    assert parse_exposure(unsandboxed) == {"pdic-ca-gencrl.service": Exposure(9.6, "UNSAFE")}


def test_a_template_is_rated_as_its_test_instance() -> None:
    text = fixture_text("systemd-analyze/pgbackrest-backup@test-instance.offline.txt")
    assert parse_exposure(text) == {"pgbackrest-backup@test-instance.service": Exposure(1.7, "OK")}


def test_outside_a_utf8_locale_the_arrow_is_ascii() -> None:
    text = fixture_text("systemd-analyze/pdic-exporter.offline.C-locale.txt")
    assert text.rstrip().endswith("-> Overall exposure level for pdic-exporter.service: 1.5 OK :-)")
    assert parse_exposure(text) == {"pdic-exporter.service": Exposure(1.5, "OK")}


def test_the_overview_table_gives_a_row_per_unit() -> None:
    found = parse_exposure(fixture_text("systemd-analyze/overview.backup-1.txt"))
    assert found["pdic-exporter.service"] == Exposure(1.5, "OK")
    assert found["ssh.service"] == Exposure(9.6, "UNSAFE")
    assert "UNIT" not in found and len(found) == 6


def test_colour_codes_are_ignored() -> None:
    bold, red, normal = "\x1b[0;1;39m", "\x1b[0;1;31m", "\x1b[0m"
    line = f"→ {bold}Overall exposure level for x.service{normal}: {red}9.6 UNSAFE{normal} 😨"
    assert parse_exposure(line) == {"x.service": Exposure(9.6, "UNSAFE")}


def test_every_unit_at_most_four_passes_and_lists_each_score() -> None:
    host = FakeHost({LIST: LISTING, security(BACKUP_UNITS): OVERALL_LINES})
    outcome = services_units_sandboxed(host)
    assert outcome.status == "pass", outcome.message
    assert outcome.message == (
        "every unit at most 4.0: pdic-aide-check.service 1.4, pdic-exporter.service 1.5, "
        "pdic-fail2ban-status.service 1.2, pdic-sysctl.service 1.5, "
        "pgbackrest-backup@.service 1.7, pgbackrest-server.service 1.7"
    )
    # The evidence is the two commands, the second keeping one line per unit.
    assert [e.command for e in outcome.evidence] == host.commands
    assert outcome.evidence[1].output == OVERALL_LINES.rstrip("\n")
    assert "pdic-lab-sysctl-net.service" not in host.commands[1]


def test_a_unit_above_the_bar_fails_by_name() -> None:
    listing = LISTING + "pdic-ca-gencrl.service       static  -\n"
    unsandboxed = fixture_text("systemd-analyze/pdic-ca-gencrl.unsandboxed.offline.txt")
    units = [*BACKUP_UNITS, "pdic-ca-gencrl.service"]
    host = FakeHost({LIST: listing, security(units): OVERALL_LINES + _overall(unsandboxed)})
    outcome = services_units_sandboxed(host)
    assert outcome.status == "fail"
    assert outcome.message == "pdic-ca-gencrl.service: exposure 9.6 UNSAFE > 4.0"


def test_a_unit_systemd_analyze_did_not_rate_fails() -> None:
    host = FakeHost(
        {
            LIST: "pdic-exporter.service enabled enabled\npdic-x.service static -\n",
            security(["pdic-exporter.service", "pdic-x.service"]): (
                0,
                "→ Overall exposure level for pdic-exporter.service: 1.5 OK 🙂\n",
                "Failed to ...",
            ),
        }
    )
    outcome = services_units_sandboxed(host)
    assert outcome.status == "fail"
    assert outcome.message == (
        "pdic-x.service: no exposure level (systemd-analyze could not rate it)"
    )


def test_masked_transient_and_lab_units_are_not_rated() -> None:
    listing = (
        "pdic-exporter.service        enabled   enabled\n"
        "pdic-fault-unit.service      transient -\n"
        "pdic-lab-sysctl-net.service  enabled   enabled\n"
        "pgbackrest-check.service     masked    enabled\n"
    )
    lines = "→ Overall exposure level for pdic-exporter.service: 1.5 OK 🙂\n"
    host = FakeHost({LIST: listing, security(["pdic-exporter.service"]): lines})
    assert services_units_sandboxed(host).status == "pass"


def test_a_host_without_pdic_units_is_not_applicable() -> None:
    outcome = services_units_sandboxed(FakeHost({LIST: (0, "")}))
    assert outcome.status == "not_applicable"
    assert outcome.message == "no unit file matching pdic-*.service pgbackrest-*.service"


@pytest.mark.parametrize(("bar", "status"), [(1.7, "pass"), (1.6, "fail")])
def test_the_bar_is_a_parameter_and_a_score_equal_to_it_passes(bar: float, status: str) -> None:
    host = FakeHost({LIST: LISTING, security(BACKUP_UNITS): OVERALL_LINES})
    assert services_units_sandboxed(host, max_exposure=bar).status == status


def test_the_catalogue_runs_it_on_every_host_container_or_not() -> None:
    control = load_catalogue(REPO / "compliance").controls["PDIC-SVC-010"]
    assert control.groups == ("all",) and control.container.applicable
    container = ("systemd-nspawn", None)
    host = FakeHost({LIST: LISTING, security(BACKUP_UNITS): OVERALL_LINES})
    outcome = evaluate(control, host, ["backup"], container)  # type: ignore[arg-type]
    assert outcome.status == "pass", outcome.message
