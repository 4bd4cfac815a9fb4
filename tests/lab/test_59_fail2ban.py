"""fail2ban on the lab: repeated failed SSH logins get an address banned, the control machine
is never banned, the bans reach Prometheus and BruteForceBans fires.

hcc-1 tries to log in to ca-1 as a user that does not exist (sshd logs "Invalid user baduser
from <address>", which the sshd filter counts in mode normal) until fail2ban bans it; its next
connection to port 22 is refused while the control machine still reaches ca-1. The firewall
admits SSH from the control machine only, so the test first adds a rule to pdic's own table
that admits hcc-1 (fail2ban's table, inet f2b-table, is evaluated before it). Three bans in a
row (each lifted with `fail2ban-client set sshd unbanip`) raise BruteForceBans for ca-1. At the
end every ban is lifted and the firewall ruleset is loaded again, which removes the test's rule
and must leave fail2ban's table in place.
"""

from __future__ import annotations

import socket

import pytest
from alerts import INV, PROMETHEUS, firing, get, prometheus_ready, query, wait

__all__ = ["prometheus_ready"]  # the fixture, used by name

TARGET = "ca-1"
ATTACKER = "hcc-1"
BANS = 3
ATTEMPTS = 40
# One failed login per connection: no key is offered (the identity file does not exist), so
# the connection ends right after "Invalid user". The loop ends at the first refused
# connection (the ban); an attempt caught by the ban half-way (its packets then rejected, until
# sshd's LoginGraceTime) is cut short by timeout.
SSH_FAIL = (
    "for i in $(seq %s); do timeout 5 ssh -n -o BatchMode=yes -o StrictHostKeyChecking=no"
    " -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 -o IdentitiesOnly=yes"
    " -o PreferredAuthentications=publickey -i /nonexistent baduser@%s true"
    " 2>&1 | grep -q 'Connection refused' && break; done; true"
)
RULE_COMMENT = "test_59_fail2ban"


def _banned_here(target, address: str) -> bool:  # type: ignore[no-untyped-def]
    status = target.run("fail2ban-client status sshd")
    return status.rc == 0 and address in status.stdout.split("Banned IP list:", 1)[-1]


def _bans_total() -> float:
    found = query(f'pdic_fail2ban_bans_total{{host="{TARGET}", jail="sshd"}}')
    return float(found[0]["value"][1]) if found else -1.0


def _port_open(host, address: str) -> bool:  # type: ignore[no-untyped-def]
    return host.run("timeout 5 bash -c %s", f"exec 3<>/dev/tcp/{address}/22").rc == 0


@pytest.mark.usefixtures("prometheus_ready")
def test_repeated_failed_logins_are_banned_and_alerted(connect) -> None:  # type: ignore[no-untyped-def]
    target, attacker = connect(TARGET), connect(ATTACKER)
    target_address, attacker_address = INV.host(TARGET).address, INV.host(ATTACKER).address
    assert target.run("fail2ban-client status sshd").rc == 0, "the sshd jail is not running"
    ignored = target.check_output("fail2ban-client get sshd ignoreip")
    assert attacker_address not in ignored, ignored
    before = wait(_bans_total, timeout=180)
    assert before >= 0, "pdic_fail2ban_bans_total of ca-1's sshd jail is not scraped"

    target.check_output(
        "nft insert rule inet pdic_filter input ip saddr %s tcp dport 22 accept comment %s",
        attacker_address,
        f'"{RULE_COMMENT}"',
    )
    try:
        assert _port_open(attacker, target_address), "the test's firewall rule does not admit hcc-1"
        for n in range(BANS):
            attacker.run(SSH_FAIL, str(ATTEMPTS), target_address)
            assert wait(lambda: _banned_here(target, attacker_address), timeout=60), (
                f"ban {n + 1}: " + target.check_output("fail2ban-client status sshd")
            )
            # Banned: hcc-1 is refused, the control machine (this process) still gets in.
            assert not _port_open(attacker, target_address), "hcc-1 still reaches ca-1's sshd"
            with socket.create_connection((target_address, 22), timeout=5):
                pass
            assert target.run("true").rc == 0
            if n < BANS - 1:
                target.check_output("fail2ban-client set sshd unbanip %s", attacker_address)
                assert wait(lambda: _port_open(attacker, target_address), timeout=30)

        # The status job (every minute), the scrape and the rule follow.
        assert wait(lambda: _bans_total() >= before + BANS, timeout=240), _bans_total()
        banned = query(f'pdic_fail2ban_banned{{host="{TARGET}", jail="sshd"}}')
        assert banned and float(banned[0]["value"][1]) >= 1, banned
        alerts = wait(lambda: firing("BruteForceBans", TARGET), timeout=180)
        assert alerts, get(PROMETHEUS, "/api/v1/alerts")
        labels, notes = alerts[0]["labels"], alerts[0]["annotations"]
        assert (labels["severity"], labels["team"], labels["jail"]) == (
            "warning",
            "security",
            "sshd",
        )
        assert TARGET in notes["summary"], notes
        assert notes["runbook_url"] == "monitoring/runbooks/BruteForceBans.md"
    finally:
        target.run("fail2ban-client unban --all")
        # The firewall role's load: pdic's table without the test's rule, fail2ban's untouched.
        target.check_output("nft -f /etc/nftables.conf")
    assert RULE_COMMENT not in target.check_output("nft list table inet pdic_filter")
    assert target.run("nft list table inet f2b-table").rc == 0, "a firewall load removed f2b-table"
    assert _port_open(attacker, target_address) is False  # the firewall's own policy again
