"""SSH checks against real ``sshd -T`` outputs of Debian 12 (default and hardened)."""

from __future__ import annotations

import pytest

from pdic.compliance.checks import registry
from pdic.compliance.checks.ssh import SSHD_MATCH_ROOT, SSHD_T, sshd_seconds

from .fakes import FakeHost, fixture_text

DEFAULT = fixture_text("sshd-T/debian12-default.txt")
HARDENED = fixture_text("sshd-T/debian12-hardened.txt")
# What roles/ssh_hardening renders (its defaults), as sshd -T of Debian 12's sshd prints it.
ROLE = fixture_text("sshd-T/pdic-ssh-hardening.txt")
NO_MATCH = (1, "")  # grep: no Match block, no PermitRootLogin line in the files


def sshd(text: str, config: object = NO_MATCH) -> FakeHost:
    return FakeHost({SSHD_T: text, SSHD_MATCH_ROOT: config})


# check -> (status on Debian 12 defaults, status with the hardened drop-in)
EXPECTED = {
    "ssh_root_login_disabled": ("fail", "pass"),
    "ssh_password_auth_disabled": ("fail", "pass"),
    "ssh_permit_empty_passwords_disabled": ("pass", "pass"),
    "ssh_ciphers_strong": ("pass", "pass"),
    "ssh_macs_strong": ("fail", "pass"),
    "ssh_kex_strong": ("pass", "pass"),
    "ssh_idle_timeout": ("fail", "pass"),
    "ssh_max_auth_tries": ("fail", "pass"),
    "ssh_login_grace_time": ("fail", "pass"),
    "ssh_hostbased_auth_disabled": ("pass", "pass"),
    "ssh_permit_user_environment_disabled": ("pass", "pass"),
    "ssh_log_level": ("pass", "pass"),
    "ssh_access_restricted": ("fail", "pass"),
}


def test_every_ssh_check_is_covered() -> None:
    assert {n for n in registry() if n.startswith("ssh_")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_debian_defaults(name: str) -> None:
    outcome = registry()[name](sshd(DEFAULT))
    assert outcome.status == EXPECTED[name][0], outcome.message
    assert outcome.evidence[0].command == SSHD_T
    assert outcome.evidence[0].exit_status == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hardened(name: str) -> None:
    outcome = registry()[name](sshd(HARDENED))
    assert outcome.status == EXPECTED[name][1], outcome.message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_ssh_hardening_role_passes_every_ssh_check(name: str) -> None:
    assert registry()[name](sshd(ROLE)).status == "pass"


def test_a_match_block_that_lets_root_in_fails_root_login() -> None:
    config = (
        "PermitRootLogin no\n"
        "Match User root Address 10.251.0.1/32\n"
        "    PermitRootLogin prohibit-password\n"
    )
    outcome = registry()["ssh_root_login_disabled"](sshd(ROLE, config))
    assert outcome.status == "fail"
    assert outcome.message == (
        "PermitRootLogin prohibit-password where 'Match User root Address 10.251.0.1/32' applies"
    )
    assert [e.command for e in outcome.evidence] == [SSHD_T, SSHD_MATCH_ROOT]


def test_failure_messages_name_the_setting() -> None:
    host = sshd(DEFAULT)
    assert (
        "permitrootlogin is 'without-password'"
        in registry()["ssh_root_login_disabled"](host).message
    )
    macs = registry()["ssh_macs_strong"](host).message
    assert "umac-64-etm@openssh.com" in macs and "hmac-sha1" in macs


def test_idle_timeout_ignores_client_alive_count_max_zero() -> None:
    text = DEFAULT.replace("clientaliveinterval 0", "clientaliveinterval 300").replace(
        "clientalivecountmax 3", "clientalivecountmax 0"
    )
    outcome = registry()["ssh_idle_timeout"](sshd(text))
    assert outcome.status == "fail"


def test_idle_timeout_threshold_is_a_parameter() -> None:
    outcome = registry()["ssh_idle_timeout"](sshd(HARDENED), max_seconds=600)
    # ChannelTimeout 15m is too long; ClientAlive 300 x 2 = 600 s is within.
    assert outcome.status == "pass"
    assert "ClientAliveInterval 300" in outcome.message


def test_sshd_unreadable_is_an_error() -> None:
    host = FakeHost({SSHD_T: (255, "", "sshd: no hostkeys available -- exiting.")})
    outcome = registry()["ssh_root_login_disabled"](host)
    assert outcome.status == "error"
    assert "[stderr] sshd: no hostkeys available" in outcome.evidence[0].output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("120", 120), ("15m", 900), ("1h30m", 5400), ("none", None), ("5x", None), ("", None)],
)
def test_sshd_seconds(text: str, seconds: int | None) -> None:
    assert sshd_seconds(text) == seconds
