"""`pdic drift` on the lab: a hand edit is found, named, alerted on, and a deploy undoes it.

sshd_config on hcc-1 is edited by hand (MaxAuthTries raised). `pdic drift --limit
hcc-1,portal-1` exits 1 and names hcc-1 and the ssh_hardening task, with the changed line in
its diff, while portal-1 has no drift; the result reaches Prometheus through mon-1's textfile
collector and ConfigurationDrift fires for hcc-1 (its labels and runbook), routed to the
platform team. `pdic deploy --limit hcc-1 --tags hardening` puts the file back; the next drift
check finds nothing on either host, exits 0, and the alert resolves.
"""

from __future__ import annotations

import pytest
from alerts import (
    PROMETHEUS,
    firing,
    get,
    prometheus_ready,
    query,
    receivers_for,
    routed,
    wait,
)
from conftest import pdic

__all__ = ["prometheus_ready"]  # the fixture, used by name

DRIFTED = "hcc-1"
CLEAN = "portal-1"
SSHD = "/etc/ssh/sshd_config"


def _changed(host: str) -> float | None:
    found = query(f'pdic_drift_changed_tasks{{exported_host="{host}"}}')
    return float(found[0]["value"][1]) if found else None


@pytest.mark.usefixtures("prometheus_ready")
def test_a_hand_edit_is_found_alerted_and_undone_by_a_deploy(  # type: ignore[no-untyped-def]
    connect,
) -> None:
    host = connect(DRIFTED)
    line = str(host.check_output("grep -E '^MaxAuthTries ' %s", SSHD))
    host.check_output("sed -i 's/^MaxAuthTries .*/MaxAuthTries 9/' %s", SSHD)

    run = pdic("drift", "--limit", f"{DRIFTED},{CLEAN}", timeout=900)
    assert run.returncode == 1, run
    report = run.stdout
    mine = report[report.index(DRIFTED) :]
    assert "ssh_hardening" in mine, report
    assert "-MaxAuthTries 9" in mine and f"+{line}" in mine, report
    assert f"{CLEAN}: no drift" in report, report

    # Published on mon-1, scraped, and alerted on, naming the drifted host.
    assert wait(lambda: _changed(DRIFTED) not in (None, 0.0), timeout=90), "not scraped"
    assert _changed(CLEAN) == 0.0
    alerts = wait(lambda: firing("ConfigurationDrift", DRIFTED), timeout=120)
    assert alerts, get(PROMETHEUS, "/api/v1/alerts")
    labels, notes = alerts[0]["labels"], alerts[0]["annotations"]
    assert (labels["severity"], labels["team"]) == ("warning", "platform")
    assert notes["runbook_url"].endswith("ConfigurationDrift.md") and DRIFTED in notes["summary"]
    sent = wait(lambda: routed("ConfigurationDrift", DRIFTED), timeout=90)
    assert sent and {r["name"] for r in sent[0]["receivers"]} == receivers_for(
        "platform", "warning"
    ), sent
    assert not firing("ConfigurationDrift", CLEAN)

    # The deploy puts the file back; then there is no drift, and the alert resolves.
    deploy = pdic("deploy", "--limit", DRIFTED, "--tags", "hardening")
    assert deploy.returncode == 0, deploy
    assert host.check_output("grep -E '^MaxAuthTries ' %s", SSHD) == line
    again = pdic("drift", "--limit", f"{DRIFTED},{CLEAN}", timeout=900)
    assert again.returncode == 0, again
    assert wait(lambda: _changed(DRIFTED) == 0.0, timeout=90)
    assert wait(lambda: not firing("ConfigurationDrift", DRIFTED), timeout=120)
