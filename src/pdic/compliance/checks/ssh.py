"""SSH server checks, read from the effective configuration (``sshd -T``).

``sshd -T`` prints what the daemon would really use after every ``Include`` and default, so a
check never has to parse sshd_config itself. It needs root (it reads the host keys); the runner
reaches hosts with the operations account and sudo. ``sshd -T -C user=...,addr=...`` applies
the Match blocks for one connection: what a given account gets from a given address.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pdic.compliance.checks.base import (
    CheckOutcome,
    HostLike,
    Probe,
    check,
    mode_problems,
    pam_lines,
)
from pdic.sshaccess import OATH_TYPE, control_networks

SSHD_T = "/usr/sbin/sshd -T"

STRONG_CIPHERS = (
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
STRONG_MACS = (
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-512",
    "hmac-sha2-256",
    "umac-128@openssh.com",
)
STRONG_KEX = (
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)


class SshdConfig:
    """The effective sshd settings of one host; keys are lower case as ``sshd -T`` prints."""

    def __init__(self, probe: Probe, command: str = SSHD_T, *args: object) -> None:
        self.probe = probe
        result = probe.run(command, *args)
        self.ok = result.rc == 0
        self.values: dict[str, list[str]] = {}
        for line in result.stdout.splitlines():
            key, _, value = line.strip().partition(" ")
            if key:
                self.values.setdefault(key.lower(), []).append(value.strip())

    def get(self, key: str) -> str | None:
        found = self.values.get(key)
        return found[0] if found else None

    def unreadable(self) -> CheckOutcome:
        return self.probe.error("sshd -T failed: cannot read the effective sshd configuration")

    def expect(self, wanted: dict[str, str]) -> CheckOutcome:
        """pass when every key has its wanted value; fail naming each that differs."""
        if not self.ok:
            return self.unreadable()
        problems = [
            f"{key} is {self.get(key)!r}, must be {value!r}"
            for key, value in wanted.items()
            if self.get(key) != value
        ]
        shown = ", ".join(f"{k} {v}" for k, v in wanted.items())
        return self.probe.verdict(problems, shown)

    def algorithms(self, key: str, allowed: Sequence[str]) -> CheckOutcome:
        if not self.ok:
            return self.unreadable()
        offered = (self.get(key) or "").split(",")
        weak = [a for a in offered if a and a not in allowed]
        if weak:
            return self.probe.failed(f"{key} offers algorithms outside the allowed list: {weak}")
        return self.probe.passed(f"{key}: only allowed algorithms ({len(offered)})")


SSHD_MATCH_ROOT = (
    "grep -hiEs '^[[:space:]]*(match|permitrootlogin)[[:space:]]' "
    "/etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf"
)
"""The Match blocks and PermitRootLogin lines of the configuration files."""

SSHD_T_ROOT_FROM = SSHD_T + " -C user=root,host=%s,addr=%s"
"""The effective settings for root connecting from one address (Match blocks applied)."""
SSHD_T_USER_FROM = SSHD_T + " -C user=%s,host=%s,addr=%s"
"""The effective settings for one account connecting from one address (Match blocks applied)."""

OUTSIDE_ADDRESSES = ("192.0.2.1", "198.51.100.1", "203.0.113.1")
"""Documentation addresses (RFC 5737): the first one outside ``allowed_from`` stands for
"anyone else" when sshd is asked for root's effective PermitRootLogin."""

KEY_ONLY = ("prohibit-password", "without-password", "forced-commands-only")
"""PermitRootLogin values that never accept a password (sshd -T prints without-password)."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RootLoginException:
    """A Match block of the configuration files that sets PermitRootLogin to something not no."""

    block: str
    value: str

    def __str__(self) -> str:
        return f"PermitRootLogin {self.value} where '{self.block}' applies"

    def address_lists(self) -> list[list[str]]:
        """The entries of each Address criterion of the block, negated ones left out (they only
        narrow a list); no list at all when the block has no Address criterion."""
        words = self.block.split()[1:]
        return [
            [e for e in value.strip('"').split(",") if e and not e.startswith("!")]
            for key, value in zip(words[::2], words[1::2], strict=False)
            if key.lower() == "address"
        ]

    def confined_to(self, allowed: Sequence[Network]) -> bool:
        """Whether the block can only match connections from the ``allowed`` networks.

        A block's criteria must all match, so one Address criterion whose every entry lies in
        an allowed network confines it. A wildcard or host name pattern is never provably
        inside one: the block then counts as open to anyone.
        """
        return any(
            all(_within(entry, allowed) for entry in entries) for entries in self.address_lists()
        )


def _within(entry: str, allowed: Sequence[Network]) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return any(
        network.version == net.version
        and int(net.network_address) <= int(network.network_address)
        and int(network.broadcast_address) <= int(net.broadcast_address)
        for net in allowed
    )


def root_login_exceptions(text: str) -> list[RootLoginException]:
    """Match blocks that let root in again (``sshd -T`` alone shows only the global settings)."""
    found = []
    block = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0].lower() == "match":
            block = " ".join(words)
        elif block and len(words) > 1 and words[1].lower() != "no":
            found.append(RootLoginException(block, words[1]))
    return found


def allowed_networks(allowed_from: Sequence[str]) -> list[Network]:
    """``allowed_from`` as networks; ValueError naming an entry that is not an address/CIDR."""
    if isinstance(allowed_from, str):
        raise ValueError(f"allowed_from must be a list of addresses, not {allowed_from!r}")
    networks = []
    for entry in allowed_from:
        try:
            networks.append(ipaddress.ip_network(str(entry), strict=False))
        except ValueError:
            raise ValueError(f"allowed_from: {entry!r} is not an address or network") from None
    return networks


def outside_address(allowed: Sequence[Network]) -> str:
    """An address outside every allowed network, to ask sshd what anyone else gets."""
    for address in OUTSIDE_ADDRESSES:
        if not any(ipaddress.ip_address(address) in net for net in allowed):
            return address
    raise ValueError(f"allowed_from covers every address: {[str(n) for n in allowed]}")


@check("ssh_root_login_disabled")
def ssh_root_login_disabled(host: HostLike, *, allowed_from: Sequence[str] = ()) -> CheckOutcome:
    """root cannot log in over SSH, except with a key from the ``allowed_from`` addresses.

    Three reads: the global PermitRootLogin (``sshd -T``) must be no; sshd's effective value
    for root connecting from an address outside ``allowed_from`` must be no; and every Match
    block of the configuration files that lets root in must be limited by its Address
    criterion to ``allowed_from`` and accept a key only (never a password). The catalogue fills
    ``allowed_from`` from the inventory (``ssh_hardening_root_login_from``, what the
    ssh_hardening role allows); empty, as in production, any Match block that lets root in
    fails. An allowed exception is named in the message.
    """
    allowed = allowed_networks(allowed_from)
    other = outside_address(allowed)
    config = SshdConfig(Probe(host))
    outcome = config.expect({"permitrootlogin": "no"})
    if outcome.status != "pass":
        return outcome
    probe = config.probe
    problems = []
    anyone = SshdConfig(probe, SSHD_T_ROOT_FROM, other, other)
    if not anyone.ok:
        return probe.error(f"sshd -T -C failed: cannot read root's settings from {other}")
    if anyone.get("permitrootlogin") != "no":
        problems.append(
            f"root from {other} (outside allowed_from): "
            f"permitrootlogin is {anyone.get('permitrootlogin')!r}, must be 'no'"
        )
    shown = ", ".join(str(n) for n in allowed)
    accepted = []
    for exception in root_login_exceptions(probe.run(SSHD_MATCH_ROOT).stdout):
        if not exception.confined_to(allowed):
            problems.append(f"{exception} (not limited to {shown})" if allowed else str(exception))
        elif exception.value.lower() not in KEY_ONLY:
            problems.append(f"{exception}: root may log in with a password there")
        else:
            accepted.append(str(exception))
    if accepted:
        return probe.verdict(
            problems,
            f"permitrootlogin no for everyone else (root from {other}: no); root with a key "
            f"only from {shown} (allowed_from): {'; '.join(accepted)}",
        )
    return probe.verdict(problems, "permitrootlogin no, and no Match block lets root in")


@check("ssh_password_auth_disabled")
def ssh_password_auth_disabled(host: HostLike) -> CheckOutcome:
    """Passwords are not accepted over SSH, neither directly nor keyboard-interactive."""
    return SshdConfig(Probe(host)).expect(
        {"passwordauthentication": "no", "kbdinteractiveauthentication": "no"}
    )


@check("ssh_permit_empty_passwords_disabled")
def ssh_permit_empty_passwords_disabled(host: HostLike) -> CheckOutcome:
    """An account with an empty password cannot log in over SSH."""
    return SshdConfig(Probe(host)).expect({"permitemptypasswords": "no"})


@check("ssh_ciphers_strong")
def ssh_ciphers_strong(host: HostLike, *, allowed: Sequence[str] = STRONG_CIPHERS) -> CheckOutcome:
    """sshd offers only ciphers from the allowed list (no CBC, 3DES, arcfour)."""
    return SshdConfig(Probe(host)).algorithms("ciphers", allowed)


@check("ssh_macs_strong")
def ssh_macs_strong(host: HostLike, *, allowed: Sequence[str] = STRONG_MACS) -> CheckOutcome:
    """sshd offers only MACs from the allowed list (no SHA-1, MD5 or 64-bit tags)."""
    return SshdConfig(Probe(host)).algorithms("macs", allowed)


@check("ssh_kex_strong")
def ssh_kex_strong(host: HostLike, *, allowed: Sequence[str] = STRONG_KEX) -> CheckOutcome:
    """sshd offers only key exchanges from the allowed list (no SHA-1 groups)."""
    return SshdConfig(Probe(host)).algorithms("kexalgorithms", allowed)


_SPAN = re.compile(r"(\d+)([smhdw]?)", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def sshd_seconds(value: str) -> int | None:
    """sshd time format (``90``, ``15m``, ``1h30m``) in seconds; None for ``none``/garbage."""
    value = value.strip().lower()
    if not value or value == "none":
        return None
    total, pos = 0, 0
    for match in _SPAN.finditer(value):
        if match.start() != pos:
            return None
        total += int(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    return total if pos == len(value) else None


@check("ssh_idle_timeout")
def ssh_idle_timeout(host: HostLike, *, max_seconds: int = 900) -> CheckOutcome:
    """An idle SSH session is closed within max_seconds.

    Either ``ChannelTimeout session=...`` (OpenSSH >= 9.2) or ClientAliveInterval with a
    non-zero ClientAliveCountMax: since OpenSSH 8.2 ``ClientAliveCountMax 0`` disables the
    disconnect instead of making it immediate, so it does not count.
    """
    config = SshdConfig(Probe(host))
    if not config.ok:
        return config.unreadable()
    for entry in " ".join(config.values.get("channeltimeout", [])).split():
        kind, _, span = entry.partition("=")
        seconds = sshd_seconds(span)
        if kind in ("session", "session:*", "*") and seconds and seconds <= max_seconds:
            return config.probe.passed(f"ChannelTimeout {entry} (<= {max_seconds} s)")
    interval = sshd_seconds(config.get("clientaliveinterval") or "0") or 0
    count = int(config.get("clientalivecountmax") or "0")
    if interval > 0 and count > 0 and interval * count <= max_seconds:
        return config.probe.passed(
            f"ClientAliveInterval {interval} x ClientAliveCountMax {count} <= {max_seconds} s"
        )
    return config.probe.failed(
        f"no idle timeout <= {max_seconds} s: no ChannelTimeout for sessions, "
        f"ClientAliveInterval {interval}, ClientAliveCountMax {count}"
    )


@check("ssh_max_auth_tries")
def ssh_max_auth_tries(host: HostLike, *, maximum: int = 4) -> CheckOutcome:
    """At most ``maximum`` authentication attempts per connection."""
    config = SshdConfig(Probe(host))
    if not config.ok:
        return config.unreadable()
    tries = int(config.get("maxauthtries") or "6")
    return config.probe.verdict(
        [f"MaxAuthTries is {tries}, must be <= {maximum}"] if tries > maximum else [],
        f"MaxAuthTries {tries}",
    )


@check("ssh_login_grace_time")
def ssh_login_grace_time(host: HostLike, *, maximum: int = 60) -> CheckOutcome:
    """An unauthenticated connection is dropped within ``maximum`` seconds."""
    config = SshdConfig(Probe(host))
    if not config.ok:
        return config.unreadable()
    grace = sshd_seconds(config.get("logingracetime") or "120")
    if grace is None or grace == 0 or grace > maximum:
        return config.probe.failed(f"LoginGraceTime is {grace}, must be 1..{maximum} s")
    return config.probe.passed(f"LoginGraceTime {grace} s")


@check("ssh_hostbased_auth_disabled")
def ssh_hostbased_auth_disabled(host: HostLike) -> CheckOutcome:
    """Host-based trust (rhosts, shosts) is ignored."""
    return SshdConfig(Probe(host)).expect({"hostbasedauthentication": "no", "ignorerhosts": "yes"})


@check("ssh_permit_user_environment_disabled")
def ssh_permit_user_environment_disabled(host: HostLike) -> CheckOutcome:
    """Users cannot set environment variables for sshd through ~/.ssh/environment."""
    return SshdConfig(Probe(host)).expect({"permituserenvironment": "no"})


@check("ssh_log_level")
def ssh_log_level(host: HostLike, *, allowed: Sequence[str] = ("INFO", "VERBOSE")) -> CheckOutcome:
    """sshd logs logins and failures (LogLevel INFO or VERBOSE)."""
    config = SshdConfig(Probe(host))
    if not config.ok:
        return config.unreadable()
    level = (config.get("loglevel") or "").upper()
    return config.probe.verdict(
        [] if level in allowed else [f"LogLevel is {level!r}, must be one of {list(allowed)}"],
        f"LogLevel {level}",
    )


@check("ssh_access_restricted")
def ssh_access_restricted(host: HostLike) -> CheckOutcome:
    """Only listed groups or users may log in over SSH (AllowGroups / AllowUsers)."""
    config = SshdConfig(Probe(host))
    if not config.ok:
        return config.unreadable()
    allow = {k: config.values[k] for k in ("allowgroups", "allowusers") if k in config.values}
    if not allow:
        return config.probe.failed("neither AllowGroups nor AllowUsers is set")
    return config.probe.passed("; ".join(f"{k} {' '.join(v)}" for k, v in sorted(allow.items())))


@check("ssh_banner")
def ssh_banner(host: HostLike, *, path: str = "/etc/issue.net") -> CheckOutcome:
    """sshd shows the legal banner file ``path`` before authentication."""
    return SshdConfig(Probe(host)).expect({"banner": path})


@check("ssh_max_sessions")
def ssh_max_sessions(host: HostLike, *, maximum: int = 4) -> CheckOutcome:
    """At most ``maximum`` sessions are multiplexed over one SSH connection."""
    config = SshdConfig(Probe(host))
    if not config.ok:
        return config.unreadable()
    sessions = int(config.get("maxsessions") or "10")
    return config.probe.verdict(
        [f"MaxSessions is {sessions}, must be <= {maximum}"] if sessions > maximum else [],
        f"MaxSessions {sessions}",
    )


@check("ssh_compression_disabled")
def ssh_compression_disabled(host: HostLike) -> CheckOutcome:
    """sshd does not compress sessions (Compression no)."""
    return SshdConfig(Probe(host)).expect({"compression": "no"})


@check("ssh_tcp_keepalive_disabled")
def ssh_tcp_keepalive_disabled(host: HostLike) -> CheckOutcome:
    """Liveness is probed inside the encrypted channel, not with spoofable TCP keepalives."""
    return SshdConfig(Probe(host)).expect({"tcpkeepalive": "no"})


@check("ssh_x11_forwarding_disabled")
def ssh_x11_forwarding_disabled(host: HostLike) -> CheckOutcome:
    """X11 connections are not forwarded (X11Forwarding no)."""
    return SshdConfig(Probe(host)).expect({"x11forwarding": "no"})


@check("ssh_agent_forwarding_disabled")
def ssh_agent_forwarding_disabled(host: HostLike) -> CheckOutcome:
    """An administrator's SSH agent is not forwarded to the server (AllowAgentForwarding no)."""
    return SshdConfig(Probe(host)).expect({"allowagentforwarding": "no"})


MFA_METHODS = "publickey,keyboard-interactive"
"""An administrator's AuthenticationMethods: a key, then the TOTP code PAM asks."""
USERS_OATH = "/etc/users.oath"
USERS_OATH_ACCOUNTS = "awk %s %s"
"""The type and user of each line of pam_oath's users file, never its keys."""
USERS_OATH_PROGRAM = "!/^#/ && NF {print $1, $2}"


def refusal(config: SshdConfig, user: str, address: str) -> str | None:
    """Why sshd refuses ``user`` from ``address`` by DenyUsers or AllowUsers (``user@host``
    patterns, ``*`` and ``?`` wildcards, a CIDR as host), or None. AllowGroups and DenyGroups
    depend on the account's groups and are left to PDIC-SSH-013."""

    def matches(pattern: str) -> bool:
        name, _, where = pattern.partition("@")
        if not fnmatch.fnmatchcase(user, name):
            return False
        if not where:
            return True
        try:
            return ipaddress.ip_address(address) in ipaddress.ip_network(where, strict=False)
        except ValueError:
            return fnmatch.fnmatchcase(address, where)

    for pattern in config.values.get("denyusers", []):
        if matches(pattern):
            return f"denyusers {pattern}"
    allowed = config.values.get("allowusers", [])
    if allowed and not any(matches(p) for p in allowed):
        return f"not in allowusers ({' '.join(allowed)})"
    return None


def _names(administrators: Any) -> list[str]:
    """The names of the inventory's pdic_admins; ValueError when it is not a list of them."""
    if administrators is None:
        return []
    if isinstance(administrators, str) or not isinstance(administrators, Sequence):
        raise ValueError(f"administrators must be a list (pdic_admins), not {administrators!r}")
    names = []
    for entry in administrators:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"administrators: {entry!r} has no name")
        names.append(name)
    return names


@check("ssh_admins_mfa")
def ssh_admins_mfa(
    host: HostLike,
    *,
    administrators: Sequence[Mapping[str, Any]] = (),
    users_file: str = USERS_OATH,
) -> CheckOutcome:
    """Administrators log in with their key and a TOTP code (pam_oath), never a key alone.

    For each of ``administrators`` (the inventory's pdic_admins, names only are read) sshd's
    effective AuthenticationMethods must be publickey,keyboard-interactive
    (``sshd -T -C user=NAME,...``); the auth stack of /etc/pam.d/sshd must call pam_oath on
    ``users_file`` (not optional, no ``alwaysok``); that file must be root's alone (0600 at
    most) and hold a TOTP line (``HOTP/T30...``) for each of them, read without its keys.
    """
    names = _names(administrators)
    probe = Probe(host)
    if not names:
        return probe.not_applicable("the inventory names no administrators (pdic_admins)")
    problems = []
    address = OUTSIDE_ADDRESSES[0]
    for name in names:
        config = SshdConfig(probe, SSHD_T_USER_FROM, name, address, address)
        if not config.ok:
            return probe.error(f"sshd -T -C failed: cannot read {name}'s settings")
        methods = config.get("authenticationmethods")
        if methods != MFA_METHODS:
            problems.append(
                f"{name}: authenticationmethods is {methods!r}, must be {MFA_METHODS!r}"
            )
        elif config.get("kbdinteractiveauthentication") != "yes":
            problems.append(
                f"{name}: keyboard-interactive is off, so the TOTP code cannot be asked"
            )
    oath = [line for line in pam_lines(probe, "sshd", "pam_oath.so") if line.startswith("auth")]
    if not oath:
        problems.append("no pam_oath in the auth stack of /etc/pam.d/sshd")
    for line in oath:
        words = line.split()
        if "alwaysok" in words:
            problems.append(f"pam_oath accepts any code (alwaysok): {line!r}")
        if len(words) > 1 and words[1] == "optional":
            problems.append(f"pam_oath is optional: {line!r}")
        if f"usersfile={users_file}" not in words:
            problems.append(f"pam_oath does not read {users_file}: {line!r}")
    found, shown = mode_problems(probe, users_file, 0o600, ["root"], ["root"])
    problems.extend(found)
    if not found:
        listed = probe.run(USERS_OATH_ACCOUNTS, USERS_OATH_PROGRAM, users_file).stdout.split("\n")
        enrolled = {
            words[1]
            for words in (line.split() for line in listed)
            if len(words) == 2 and words[0].startswith("HOTP/T30")
        }
        problems.extend(
            f"{name} has no TOTP line in {users_file}" for name in names if name not in enrolled
        )
    return probe.verdict(
        problems,
        f"administrators {', '.join(names)}: authenticationmethods {MFA_METHODS}; pam_oath in "
        f"/etc/pam.d/sshd reads {users_file} ({shown}), a {OATH_TYPE} line each",
    )


@check("ssh_ops_account_restricted")
def ssh_ops_account_restricted(
    host: HostLike,
    *,
    ops_user: str = "pdicops",
    firewall_rules: Sequence[Any] = (),
    firewall_group_rules: Sequence[Any] = (),
    firewall_host_rules: Sequence[Any] = (),
    port: int = 22,
) -> CheckOutcome:
    """The operations account logs in with a key only, and only from the control networks.

    The control networks are what the firewall rules admit SSH from, less 0.0.0.0/0 and ::/0
    (:func:`pdic.sshaccess.control_networks`, as playbooks/hardening.yml passes them to the
    ssh_hardening role); the catalogue fills the three rule lists from the host's inventory.
    sshd is asked what ``ops_user`` gets from an address of the first control network (a key
    only: authenticationmethods publickey, and not refused) and from an address outside them
    all (refused, by DenyUsers or AllowUsers).
    """
    rules: list[Any] = []
    for value in (firewall_rules, firewall_group_rules, firewall_host_rules):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ValueError(f"firewall rules must be lists, not {value!r}")
        rules.extend(value)
    networks = control_networks(rules, port)
    allowed = allowed_networks(networks)
    probe = Probe(host)
    if not allowed:
        return probe.failed(
            f"the inventory names no control network (no firewall rule admits SSH on port {port} "
            f"from a network other than anyone): {ops_user} may log in from anywhere"
        )
    problems = []
    first = allowed[0]
    inside = str(first.network_address if first.num_addresses == 1 else first.network_address + 1)
    config = SshdConfig(probe, SSHD_T_USER_FROM, ops_user, inside, inside)
    if not config.ok:
        return probe.error(f"sshd -T -C failed: cannot read {ops_user}'s settings from {inside}")
    methods = config.get("authenticationmethods")
    if methods != "publickey":
        problems.append(
            f"{ops_user} from {inside}: authenticationmethods is {methods!r}, must be 'publickey'"
        )
    refused_inside = refusal(config, ops_user, inside)
    if refused_inside:
        problems.append(
            f"{ops_user} is refused from {inside}, a control network ({refused_inside})"
        )
    outside = outside_address(allowed)
    config = SshdConfig(probe, SSHD_T_USER_FROM, ops_user, outside, outside)
    if not config.ok:
        return probe.error(f"sshd -T -C failed: cannot read {ops_user}'s settings from {outside}")
    refused_outside = refusal(config, ops_user, outside)
    if not refused_outside:
        problems.append(
            f"{ops_user} may log in from {outside}, outside the control networks "
            f"({', '.join(networks)})"
        )
    return probe.verdict(
        problems,
        f"{ops_user}: a key only (authenticationmethods publickey) from {inside} in the control "
        f"networks ({', '.join(networks)}); refused from {outside} ({refused_outside})",
    )
