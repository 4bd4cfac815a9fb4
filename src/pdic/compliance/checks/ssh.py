"""SSH server checks, read from the effective configuration (``sshd -T``).

``sshd -T`` prints what the daemon would really use after every ``Include`` and default, so a
check never has to parse sshd_config itself. It needs root (it reads the host keys); the runner
reaches hosts with the operations account and sudo.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pdic.compliance.checks.base import CheckOutcome, HostLike, Probe, check

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

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        result = probe.run(SSHD_T)
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


def root_login_exceptions(text: str) -> list[str]:
    """Match blocks that let root in again (``sshd -T`` shows only the global settings)."""
    found = []
    block = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0].lower() == "match":
            block = " ".join(words)
        elif block and len(words) > 1 and words[1].lower() != "no":
            found.append(f"PermitRootLogin {words[1]} where '{block}' applies")
    return found


@check("ssh_root_login_disabled")
def ssh_root_login_disabled(host: HostLike) -> CheckOutcome:
    """root cannot log in over SSH, with any method (PermitRootLogin no, in every Match block)."""
    config = SshdConfig(Probe(host))
    outcome = config.expect({"permitrootlogin": "no"})
    if outcome.status != "pass":
        return outcome
    exceptions = root_login_exceptions(config.probe.run(SSHD_MATCH_ROOT).stdout)
    return config.probe.verdict(exceptions, "permitrootlogin no, and no Match block lets root in")


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
