"""SSH checks against real ``sshd -T`` outputs of Debian 12 (default and hardened)."""

from __future__ import annotations

import re

import pytest

from pdic.compliance.checks import CheckOutcome, registry
from pdic.compliance.checks.base import Probe, render
from pdic.compliance.checks.ssh import (
    SSHD_MATCH_ROOT,
    SSHD_T,
    SSHD_T_USER_FROM,
    USERS_OATH_ACCOUNTS,
    USERS_OATH_PROGRAM,
    RootLoginException,
    SshdConfig,
    allowed_networks,
    outside_address,
    refusal,
    sshd_seconds,
)
from pdic.inventory import load_inventory

from .fakes import NO_MATCH, REPO, FakeHost, fixture_text, root_from, sshd_replies

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


# Checks of what one account gets (sshd -T -C): the administrators' and the operations
# account's, tested on their own below.
PER_ACCOUNT = {"ssh_admins_mfa", "ssh_ops_account_restricted"}


def test_every_ssh_check_is_covered() -> None:
    assert {n for n in registry() if n.startswith("ssh_")} == set(EXPECTED) | PER_ACCOUNT


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


# Administrators: key and TOTP code (PDIC-SSH-021). The role's sshd_config (its defaults, with
# the lab's addresses) as sshd -T -C prints it for an administrator, and its /etc/pam.d/sshd.
ROLE_ADMIN = fixture_text("sshd-T/pdic-ssh-hardening.user-labadmin.txt")
ROLE_PAM = fixture_text("pam/sshd.pdic-ssh-hardening")
ADMINS = [{"name": "labadmin", "authorized_key_files": ["/x.pub"], "totp_secret": "vault_totp_x"}]
OATH_GREP = render(
    "grep -Es %s %s", r"^[[:space:]]*[a-z]+[[:space:]].*pam_oath\.so", "/etc/pam.d/sshd"
)
USERS_STAT = "stat -L -c '%a %U %G' -- /etc/users.oath"
USERS_LIST = render(USERS_OATH_ACCOUNTS, USERS_OATH_PROGRAM, "/etc/users.oath")


def user_from(user: str, address: str) -> str:
    return render(SSHD_T_USER_FROM, user, address, address)


def grep_pam(text: str, module: str) -> object:
    """What ``grep -Es`` of the checks prints of a PAM file: its active lines calling module."""
    found = [
        line for line in text.splitlines() if re.match(rf"^\s*[a-z]+\s.*{re.escape(module)}", line)
    ]
    return "\n".join(found) + "\n" if found else (1, "")


def admin_host(
    admin: object = ROLE_ADMIN,
    pam: object = None,
    stat: object = "600 root root\n",
    users: object = "HOTP/T30/6 labadmin\n",
) -> FakeHost:
    """An administrator's host as the role leaves it; each argument replaces one reply."""
    return FakeHost(
        {
            user_from("labadmin", "192.0.2.1"): admin,
            OATH_GREP: grep_pam(ROLE_PAM, "pam_oath.so") if pam is None else pam,
            USERS_STAT: stat,
            USERS_LIST: users,
        }
    )


def admins_mfa(host: FakeHost, administrators: object = ADMINS) -> CheckOutcome:
    return registry()["ssh_admins_mfa"](host, administrators=administrators)


def test_the_roles_administrators_need_their_key_and_a_totp_code() -> None:
    host = admin_host()
    outcome = admins_mfa(host)
    assert outcome.status == "pass", outcome.message
    assert outcome.message == (
        "administrators labadmin: authenticationmethods publickey,keyboard-interactive; pam_oath "
        "in /etc/pam.d/sshd reads /etc/users.oath (/etc/users.oath 0600 root:root), a HOTP/T30/6 "
        "line each"
    )
    assert [e.command for e in outcome.evidence] == [
        "/usr/sbin/sshd -T -C user=labadmin,host=192.0.2.1,addr=192.0.2.1",
        OATH_GREP,
        USERS_STAT,
        "awk '!/^#/ && NF {print $1, $2}' /etc/users.oath",
    ]
    assert all("3132" not in e.output for e in outcome.evidence)  # no key is ever read


def test_a_key_alone_fails_naming_each_missing_piece() -> None:
    # ssh_hardening_mfa false: no Match block for the group (sshd -T -C prints the global
    # settings), no PAM lines, no users file.
    host = admin_host(admin=ROLE, pam=(1, ""), stat=(1, "", "stat: cannot statx"))
    outcome = admins_mfa(host)
    assert outcome.status == "fail"
    assert outcome.message == (
        "labadmin: authenticationmethods is 'any', must be 'publickey,keyboard-interactive'; "
        "no pam_oath in the auth stack of /etc/pam.d/sshd; "
        "/etc/users.oath does not exist or cannot be read"
    )
    assert USERS_LIST not in host.commands


@pytest.mark.parametrize(
    ("replies", "message"),
    [
        (
            {"pam": "auth optional pam_oath.so usersfile=/etc/users.oath alwaysok\n"},
            "pam_oath accepts any code (alwaysok): 'auth optional pam_oath.so "
            "usersfile=/etc/users.oath alwaysok'; pam_oath is optional: ",
        ),
        (
            {"pam": "auth required pam_oath.so usersfile=/home/x/.oath\n"},
            "pam_oath does not read /etc/users.oath: 'auth required pam_oath.so "
            "usersfile=/home/x/.oath'",
        ),
        (
            {"stat": "644 root adm\n"},
            "/etc/users.oath has mode 0644, must be at most 0600; /etc/users.oath has group adm, "
            "must be root",
        ),
        ({"users": "HOTP/T30/6 someone\n"}, "labadmin has no TOTP line in /etc/users.oath"),
        (
            {
                "admin": ROLE_ADMIN.replace(
                    "kbdinteractiveauthentication yes", "kbdinteractiveauthentication no"
                )
            },
            "labadmin: keyboard-interactive is off, so the TOTP code cannot be asked",
        ),
    ],
)
def test_each_weakness_of_the_second_factor_fails(replies: dict[str, object], message: str) -> None:
    outcome = admins_mfa(admin_host(**replies))
    assert outcome.status == "fail"
    assert outcome.message.startswith(message), outcome.message


def test_without_administrators_the_control_does_not_apply() -> None:
    outcome = admins_mfa(FakeHost({}), [])
    assert outcome.status == "not_applicable"
    assert outcome.message == "the inventory names no administrators (pdic_admins)"


@pytest.mark.parametrize(
    ("administrators", "message"),
    [
        ("{{ admins }}", "administrators must be a list"),
        ([{"full_name": "x"}], "has no name"),
    ],
)
def test_administrators_must_be_the_inventory_list(administrators: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        admins_mfa(FakeHost({}), administrators)


# The operations account: a key only, from the control networks only (PDIC-SSH-022).
ROLE_OPS_INSIDE = fixture_text("sshd-T/pdic-ssh-hardening.user-pdicops.from-10.251.0.1.txt")
ROLE_OPS_OUTSIDE = fixture_text("sshd-T/pdic-ssh-hardening.user-pdicops.from-192.0.2.1.txt")
LAB_RULES = load_inventory(REPO / "inventory" / "lab").vars["firewall_rules"]


def ops_host(inside: str = ROLE_OPS_INSIDE, outside: str = ROLE_OPS_OUTSIDE) -> FakeHost:
    return FakeHost(
        {user_from("pdicops", "10.251.0.1"): inside, user_from("pdicops", "192.0.2.1"): outside}
    )


def ops_restricted(host: FakeHost, rules: object = LAB_RULES, **params: object) -> CheckOutcome:
    return registry()["ssh_ops_account_restricted"](
        host, ops_user="pdicops", firewall_rules=rules, **params
    )


def test_the_roles_operations_account_is_key_only_from_the_control_machine() -> None:
    host = ops_host()
    outcome = ops_restricted(host)
    assert outcome.status == "pass", outcome.message
    assert outcome.message == (
        "pdicops: a key only (authenticationmethods publickey) from 10.251.0.1 in the control "
        "networks (10.251.0.1/32); refused from 192.0.2.1 (denyusers *)"
    )
    assert host.commands == [user_from("pdicops", "10.251.0.1"), user_from("pdicops", "192.0.2.1")]


def test_from_anywhere_or_with_any_method_fails() -> None:
    # The role without ssh_hardening_ops_from (no DenyUsers block: sshd -T -C from outside
    # prints what it prints from inside), then Debian's defaults.
    outcome = ops_restricted(ops_host(outside=ROLE_OPS_INSIDE))
    assert outcome.status == "fail"
    assert outcome.message == (
        "pdicops may log in from 192.0.2.1, outside the control networks (10.251.0.1/32)"
    )
    outcome = ops_restricted(ops_host(inside=DEFAULT, outside=DEFAULT))
    assert outcome.message == (
        "pdicops from 10.251.0.1: authenticationmethods is 'any', must be 'publickey'; "
        "pdicops may log in from 192.0.2.1, outside the control networks (10.251.0.1/32)"
    )


def test_refusing_the_control_machine_fails() -> None:
    outcome = ops_restricted(ops_host(inside=ROLE_OPS_OUTSIDE))
    assert outcome.status == "fail"
    assert outcome.message == "pdicops is refused from 10.251.0.1, a control network (denyusers *)"


def test_without_a_control_network_it_fails_before_asking_sshd() -> None:
    host = FakeHost({})
    world = [{"name": "ssh", "ports": [22], "from_networks": ["0.0.0.0/0", "::/0"]}]
    for rules in ([], world):
        outcome = ops_restricted(host, rules)
        assert outcome.status == "fail"
        assert outcome.message == (
            "the inventory names no control network (no firewall rule admits SSH on port 22 from "
            "a network other than anyone): pdicops may log in from anywhere"
        )
    assert host.commands == []


def test_the_control_networks_come_from_every_rule_list_and_port() -> None:
    group = [{"name": "ssh", "ports": [2222], "from_networks": ["198.51.100.0/24"]}]
    host = FakeHost(
        {
            user_from("pdicops", "198.51.100.1"): ROLE_OPS_INSIDE,
            user_from("pdicops", "192.0.2.1"): ROLE_OPS_OUTSIDE,
        }
    )
    outcome = ops_restricted(host, [], firewall_group_rules=group, port=2222)
    assert outcome.status == "pass", outcome.message
    with pytest.raises(ValueError, match="firewall rules must be lists"):
        ops_restricted(host, "{{ rules }}")


@pytest.mark.parametrize(
    ("settings", "user", "address", "why"),
    [
        ("denyusers *\n", "pdicops", "192.0.2.1", "denyusers *"),
        (
            "denyusers pdicops@192.0.2.0/24\n",
            "pdicops",
            "192.0.2.1",
            "denyusers pdicops@192.0.2.0/24",
        ),
        ("denyusers pdicops@192.0.2.0/24\n", "pdicops", "10.0.0.1", None),
        (
            "allowusers pdicops@10.251.0.1 labadmin\n",
            "pdicops",
            "192.0.2.1",
            "not in allowusers (pdicops@10.251.0.1 labadmin)",
        ),
        ("allowusers pdicops@10.251.0.*\n", "pdicops", "10.251.0.1", None),
        ("allowusers pdic*\n", "pdicops", "192.0.2.1", None),
        ("", "pdicops", "192.0.2.1", None),
    ],
)
def test_refusal_reads_deny_and_allow_users(
    settings: str, user: str, address: str, why: str | None
) -> None:
    config = SshdConfig(Probe(FakeHost({SSHD_T: settings})))
    assert refusal(config, user, address) == why
