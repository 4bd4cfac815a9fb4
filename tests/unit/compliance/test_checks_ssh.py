"""SSH checks against real ``sshd -T`` outputs of Debian 12 (default and hardened)."""

from __future__ import annotations

import pytest

from pdic.compliance.checks import CheckOutcome, registry
from pdic.compliance.checks.ssh import (
    SSHD_MATCH_ROOT,
    SSHD_T,
    RootLoginException,
    allowed_networks,
    outside_address,
    sshd_seconds,
)

from .fakes import NO_MATCH, FakeHost, fixture_text, root_from, sshd_replies

DEFAULT = fixture_text("sshd-T/debian12-default.txt")
HARDENED = fixture_text("sshd-T/debian12-hardened.txt")
# What roles/ssh_hardening renders (its defaults), as sshd -T of Debian 12's sshd prints it.
ROLE = fixture_text("sshd-T/pdic-ssh-hardening.txt")
# The same with `PermitRootLogin yes` in its global section (root login enabled by hand).
ROLE_ROOT_YES = fixture_text("sshd-T/pdic-ssh-hardening.root-login-yes.txt")
# sshd -T -C for root from 192.0.2.1 with `Match User root / PermitRootLogin prohibit-password`
# added to the role's file: root gets in from anywhere.
ROLE_MATCH_ROOT_ANYWHERE = fixture_text(
    "sshd-T/pdic-ssh-hardening.match-user-root.from-192.0.2.1.txt"
)
# What grep prints of the role's file with the lab's ssh_hardening_root_login_from.
LAB_MATCH = (
    "PermitRootLogin no\n"
    "Match User root Address 10.251.0.1/32\n"
    "    PermitRootLogin prohibit-password\n"
)
LAB_ALLOWED = ["10.251.0.1/32"]


def sshd(text: str, config: object = NO_MATCH, outside: str | None = None) -> FakeHost:
    return FakeHost(sshd_replies(text, config, outside))


def root_login(host: FakeHost, allowed_from: list[str] | None = None) -> CheckOutcome:
    return registry()["ssh_root_login_disabled"](host, allowed_from=allowed_from or [])


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
    "ssh_banner": ("fail", "fail"),
    "ssh_max_sessions": ("fail", "fail"),
    "ssh_compression_disabled": ("fail", "fail"),
    "ssh_tcp_keepalive_disabled": ("fail", "fail"),
    "ssh_x11_forwarding_disabled": ("fail", "pass"),
    "ssh_agent_forwarding_disabled": ("fail", "fail"),
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
    # Production: no address is allowed, so the role's Match block for root is a failure.
    outcome = root_login(sshd(ROLE, LAB_MATCH))
    assert outcome.status == "fail"
    assert outcome.message == (
        "PermitRootLogin prohibit-password where 'Match User root Address 10.251.0.1/32' applies"
    )
    assert [e.command for e in outcome.evidence] == [SSHD_T, root_from(), SSHD_MATCH_ROOT]


def test_the_labs_exception_passes_when_the_inventory_allows_it_and_is_named() -> None:
    outcome = root_login(sshd(ROLE, LAB_MATCH), LAB_ALLOWED)
    assert outcome.status == "pass", outcome.message
    assert outcome.message == (
        "permitrootlogin no for everyone else (root from 192.0.2.1: no); root with a key only "
        "from 10.251.0.1/32 (allowed_from): PermitRootLogin prohibit-password where "
        "'Match User root Address 10.251.0.1/32' applies"
    )
    assert [e.command for e in outcome.evidence] == [SSHD_T, root_from(), SSHD_MATCH_ROOT]


def test_root_login_enabled_by_hand_fails_despite_the_allowed_exception() -> None:
    host = sshd(ROLE_ROOT_YES, LAB_MATCH)
    outcome = root_login(host, LAB_ALLOWED)
    assert outcome.status == "fail"
    assert outcome.message == "permitrootlogin is 'yes', must be 'no'"
    assert host.commands == [SSHD_T]


def test_a_match_block_wider_than_the_allowed_addresses_fails() -> None:
    wider = LAB_MATCH + "Match Address 10.251.0.0/24\n    PermitRootLogin prohibit-password\n"
    outcome = root_login(sshd(ROLE, wider), LAB_ALLOWED)
    assert outcome.status == "fail"
    assert outcome.message == (
        "PermitRootLogin prohibit-password where 'Match Address 10.251.0.0/24' applies "
        "(not limited to 10.251.0.1/32)"
    )


def test_a_password_for_root_fails_even_from_an_allowed_address() -> None:
    config = "Match User root Address 10.251.0.1\n    PermitRootLogin yes\n"
    outcome = root_login(sshd(ROLE, config), LAB_ALLOWED)
    assert outcome.status == "fail"
    assert outcome.message == (
        "PermitRootLogin yes where 'Match User root Address 10.251.0.1' applies: "
        "root may log in with a password there"
    )


def test_sshd_itself_catches_a_match_block_the_files_read_do_not_show() -> None:
    # E.g. a Match block in a file included from elsewhere: grep sees only the lab's block,
    # sshd -T -C says root from an outside address gets in; both are reported.
    host = sshd(ROLE, LAB_MATCH, outside=ROLE_MATCH_ROOT_ANYWHERE)
    outcome = root_login(host, LAB_ALLOWED)
    assert outcome.status == "fail"
    assert outcome.message == (
        "root from 192.0.2.1 (outside allowed_from): permitrootlogin is 'without-password', "
        "must be 'no'"
    )


def test_sshd_minus_c_failing_is_an_error() -> None:
    host = FakeHost({**sshd_replies(ROLE), root_from(): (255, "", "bad connection spec")})
    outcome = root_login(host, LAB_ALLOWED)
    assert outcome.status == "error"
    assert outcome.message == "sshd -T -C failed: cannot read root's settings from 192.0.2.1"


@pytest.mark.parametrize(
    ("block", "allowed", "confined"),
    [
        ("Match User root Address 10.251.0.1/32", ["10.251.0.1/32"], True),
        ("Match User root Address 10.251.0.1", ["10.251.0.0/24"], True),
        ('Match Address "10.251.0.1/32"', ["10.251.0.1"], True),
        ("Match Address 10.251.0.1/32,!10.251.0.9", ["10.251.0.1/32"], True),
        ("Match Address 10.0.0.0/8 User root Address 10.251.0.1", ["10.251.0.1/32"], True),
        ("match address 2001:db8::5", ["2001:db8::/64"], True),
        ("Match Address 10.251.0.0/24", ["10.251.0.1/32"], False),
        ("Match Address 10.251.0.1,10.251.0.2", ["10.251.0.1/32"], False),
        ("Match Address 10.251.0.*", ["10.251.0.0/24"], False),
        ("Match User root", ["10.251.0.1/32"], False),
        ("Match Host control.lab", ["10.251.0.1/32"], False),
        ("Match all", ["10.251.0.1/32"], False),
        ("Match Address ::ffff:10.251.0.1", ["10.251.0.1/32"], False),
        ("Match User root Address 10.251.0.1/32", [], False),
    ],
)
def test_a_match_block_is_confined_only_by_an_address_criterion_inside_the_allowed(
    block: str, allowed: list[str], confined: bool
) -> None:
    exception = RootLoginException(block, "prohibit-password")
    assert exception.confined_to(allowed_networks(allowed)) is confined


def test_the_outside_address_is_outside_every_allowed_network() -> None:
    assert outside_address(allowed_networks(["10.251.0.1/32"])) == "192.0.2.1"
    assert outside_address(allowed_networks(["192.0.2.0/24"])) == "198.51.100.1"
    with pytest.raises(ValueError, match="allowed_from covers every address"):
        outside_address(allowed_networks(["0.0.0.0/0"]))


@pytest.mark.parametrize(
    ("allowed_from", "message"),
    [
        (["control.lab"], "allowed_from: 'control.lab' is not an address or network"),
        ("10.251.0.1/32", "allowed_from must be a list of addresses"),
        (["{{ pdic_control_address }}"], "is not an address or network"),
    ],
)
def test_allowed_from_must_list_addresses(allowed_from: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        registry()["ssh_root_login_disabled"](sshd(ROLE, LAB_MATCH), allowed_from=allowed_from)


def test_failure_messages_name_the_setting() -> None:
    host = sshd(DEFAULT)
    assert "permitrootlogin is 'without-password'" in root_login(host).message
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


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ssh_banner", "banner is 'none', must be '/etc/issue.net'"),
        ("ssh_max_sessions", "MaxSessions is 10, must be <= 4"),
        ("ssh_compression_disabled", "compression is 'yes', must be 'no'"),
        ("ssh_tcp_keepalive_disabled", "tcpkeepalive is 'yes', must be 'no'"),
        ("ssh_x11_forwarding_disabled", "x11forwarding is 'yes', must be 'no'"),
        ("ssh_agent_forwarding_disabled", "allowagentforwarding is 'yes', must be 'no'"),
    ],
)
def test_debian_defaults_fail_the_session_settings_naming_them(name: str, message: str) -> None:
    assert registry()[name](sshd(DEFAULT)).message == message


def test_the_roles_session_settings_are_named_when_they_pass() -> None:
    assert registry()["ssh_max_sessions"](sshd(ROLE)).message == "MaxSessions 4"
    assert registry()["ssh_banner"](sshd(ROLE)).message == "banner /etc/issue.net"
    assert registry()["ssh_max_sessions"](sshd(ROLE), maximum=2).status == "fail"
