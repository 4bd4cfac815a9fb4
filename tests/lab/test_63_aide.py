"""AIDE on the lab: a hand edit raises FileIntegrityChanged, a deploy's own changes do not.

On ca-1 a file is created by hand under /etc; the check (pdic-aide-check.service) counts it,
the count reaches Prometheus through the node exporter's textfile collector and
FileIntegrityChanged fires for ca-1 (its labels and runbook), routed to the security team.
The file removed and the check run again, the count is 0 and the alert resolves.

Then a deploy: a file the hardening role manages (/etc/sudoers.d/pdic-hardening) is removed
and the baseline accepted without it, and /etc/issue.net (the banner, also managed) is edited by
hand. `pdic deploy --limit ca-1 --tags hardening` puts both back: the sudoers file is new
against the baseline, made by the deploy, so the deploy takes it into the baseline; the banner
is as the baseline has it again. The check then finds nothing and the alert never fires.
"""

from __future__ import annotations

import time

import pytest
from alerts import PROMETHEUS, firing, get, prometheus_ready, query, receivers_for, routed, wait
from conftest import pdic

__all__ = ["prometheus_ready"]  # the fixture, used by name

HOST = "ca-1"
HAND_EDIT = "/etc/pdic-test-hand-edit"
MANAGED = "/etc/sudoers.d/pdic-hardening"
BANNER = "/etc/issue.net"
CHECK = "systemctl start pdic-aide-check.service"


def _changed(host: str) -> float | None:
    found = query(f'sum(pdic_aide_changed_files{{host="{host}"}})')
    return float(found[0]["value"][1]) if found else None


def _last_check(host: str) -> float:
    found = query(f'pdic_aide_last_check_timestamp_seconds{{host="{host}"}}')
    return float(found[0]["value"][1]) if found else 0.0


def _checked(host, since: float) -> bool:  # type: ignore[no-untyped-def]
    """Run the check on the host and wait until Prometheus has its result (newer than since)."""
    host.check_output(CHECK)
    return bool(wait(lambda: _last_check(HOST) >= since, timeout=90))


@pytest.mark.usefixtures("prometheus_ready")
def test_a_hand_edit_raises_file_integrity_changed_until_undone(  # type: ignore[no-untyped-def]
    connect,
) -> None:
    host = connect(HOST)
    assert host.service("pdic-aide-check.timer").is_enabled
    assert host.file("/var/lib/aide/aide.db").exists
    started = int(time.time())
    host.check_output("echo 'pdic lab test: hand edit' > %s", HAND_EDIT)
    try:
        assert _checked(host, started), "the check's result was not scraped"
        report = host.check_output("cat /var/lib/pdic-aide/last-check.txt")
        assert HAND_EDIT in report, report
        assert wait(lambda: (_changed(HOST) or 0) >= 1, timeout=90)
        alerts = wait(lambda: firing("FileIntegrityChanged", HOST), timeout=120)
        assert alerts, get(PROMETHEUS, "/api/v1/alerts")
        labels, notes = alerts[0]["labels"], alerts[0]["annotations"]
        assert (labels["severity"], labels["team"]) == ("warning", "security")
        assert notes["runbook_url"].endswith("FileIntegrityChanged.md") and HOST in notes["summary"]
        sent = wait(lambda: routed("FileIntegrityChanged", HOST), timeout=90)
        assert sent and {r["name"] for r in sent[0]["receivers"]} == receivers_for(
            "security", "warning"
        ), sent
    finally:
        host.run("rm -f -- %s", HAND_EDIT)
    again = int(time.time())
    assert _checked(host, again)
    assert wait(lambda: _changed(HOST) == 0.0, timeout=90)
    assert wait(lambda: not firing("FileIntegrityChanged", HOST), timeout=120)


@pytest.mark.usefixtures("prometheus_ready")
def test_a_deploy_never_raises_it_for_what_it_changed(  # type: ignore[no-untyped-def]
    connect,
) -> None:
    host = connect(HOST)
    banner = host.file(BANNER).content_string
    host.check_output("rm -f -- %s", MANAGED)
    assert "baseline updated" in host.check_output("pdic-aide-check --accept")
    host.check_output("echo 'pdic lab test: banner edited' >> %s", BANNER)

    deploy = pdic("deploy", "--limit", HOST, "--tags", "hardening")
    assert deploy.returncode == 0, deploy
    assert host.file(MANAGED).exists
    assert host.file(BANNER).content_string == banner
    # The deploy's last task took the new sudoers file into the baseline.
    assert "baseline updated" in host.check_output("journalctl -t pdic-aide-check --since -10min")

    started = int(time.time())
    assert _checked(host, started)
    report = host.check_output("cat /var/lib/pdic-aide/last-check.txt")
    assert "found NO differences" in report, report
    assert wait(lambda: _changed(HOST) == 0.0, timeout=90)
    # The lab caps every `for:` at 20 s: a minute without the alert is long enough to see it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert not firing("FileIntegrityChanged", HOST), get(PROMETHEUS, "/api/v1/alerts")
        time.sleep(5)

    # A deploy with nothing to change leaves the baseline alone and reports no change.
    quiet = pdic("deploy", "--limit", HOST, "--tags", "hardening")
    assert quiet.returncode == 0, quiet
    before = host.check_output("stat -c %%Y /var/lib/aide/aide.db")
    assert pdic("deploy", "--limit", HOST, "--tags", "hardening").returncode == 0
    assert host.check_output("stat -c %%Y /var/lib/aide/aide.db") == before
