"""Account checks: password policy (PAM, login.defs), lockout, idle accounts, sudo.

The policy is read where Debian 12 applies it: ``/etc/pam.d/common-password`` and
``common-auth`` (which modules run, with which arguments), ``/etc/security/pwquality.conf``
(+ ``.conf.d``), ``faillock.conf``, ``pwhistory.conf``, ``/etc/login.defs`` and ``useradd -D``.
Reading /etc/shadow needs root; the runner uses sudo.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pdic.compliance.checks.base import (
    CheckOutcome,
    HostLike,
    Probe,
    as_int,
    check,
    key_values,
    pam_lines,
    words_config,
)

PWQUALITY_FILES = "/etc/security/pwquality.conf /etc/security/pwquality.conf.d/*.conf"


def module_args(lines: Sequence[str]) -> dict[str, str]:
    """``key=value`` arguments (and bare flags, as "") of PAM lines; a later line wins."""
    out: dict[str, str] = {}
    for line in lines:
        for word in line.split()[3:]:
            key, _, value = word.partition("=")
            out[key] = value
    return out


def pwquality(probe: Probe) -> tuple[list[str], dict[str, str]]:
    """The pam_pwquality lines of common-password and the effective settings."""
    lines = pam_lines(probe, "common-password", "pam_pwquality.so")
    settings = key_values(probe.run(f"cat {PWQUALITY_FILES} 2>/dev/null").stdout)
    settings.update(module_args(lines))
    return lines, settings


@check("accounts_password_min_length")
def accounts_password_min_length(host: HostLike, *, minimum: int = 14) -> CheckOutcome:
    """pam_pwquality enforces passwords of at least ``minimum`` characters."""
    probe = Probe(host)
    lines, settings = pwquality(probe)
    if not lines:
        return probe.failed("pam_pwquality is not in /etc/pam.d/common-password")
    minlen = as_int(settings.get("minlen")) or 8
    return probe.verdict(
        [f"minlen is {minlen}, must be >= {minimum}"] if minlen < minimum else [],
        f"minlen {minlen}",
    )


@check("accounts_password_complexity")
def accounts_password_complexity(host: HostLike, *, min_classes: int = 4) -> CheckOutcome:
    """pam_pwquality requires ``min_classes`` character classes (minclass, or all credits < 0)."""
    probe = Probe(host)
    lines, settings = pwquality(probe)
    if not lines:
        return probe.failed("pam_pwquality is not in /etc/pam.d/common-password")
    minclass = as_int(settings.get("minclass")) or 0
    credits = [as_int(settings.get(k)) or 0 for k in ("dcredit", "ucredit", "lcredit", "ocredit")]
    classes = max(minclass, sum(1 for c in credits if c < 0))
    return probe.verdict(
        [f"{classes} character classes required, must be >= {min_classes}"]
        if classes < min_classes
        else [],
        f"{classes} character classes required",
    )


@check("accounts_password_history")
def accounts_password_history(host: HostLike, *, remember: int = 10) -> CheckOutcome:
    """pam_pwhistory refuses the last ``remember`` passwords."""
    probe = Probe(host)
    lines = pam_lines(probe, "common-password", "pam_pwhistory.so")
    if not lines:
        return probe.failed("pam_pwhistory is not in /etc/pam.d/common-password")
    settings = key_values(probe.run("cat /etc/security/pwhistory.conf 2>/dev/null").stdout)
    settings.update(module_args(lines))
    kept = as_int(settings.get("remember")) or 10
    return probe.verdict(
        [f"remember is {kept}, must be >= {remember}"] if kept < remember else [],
        f"remember {kept}",
    )


def login_defs(probe: Probe) -> dict[str, str]:
    return words_config(probe.run("cat /etc/login.defs").stdout)


@check("accounts_password_max_age")
def accounts_password_max_age(host: HostLike, *, max_days: int = 90) -> CheckOutcome:
    """Passwords expire after at most ``max_days``: the default and every account with one."""
    probe = Probe(host)
    configured = as_int(login_defs(probe).get("PASS_MAX_DAYS")) or 99999
    problems = []
    if configured > max_days:
        problems.append(f"PASS_MAX_DAYS is {configured}, must be <= {max_days}")
    shadow = probe.run("awk -F: '$2 ~ /^\\$/ {print $1 \":\" $5}' /etc/shadow")
    if shadow.rc != 0:
        return probe.error("cannot read /etc/shadow")
    for line in shadow.stdout.split():
        user, _, days = line.partition(":")
        value = as_int(days)
        if value is None or value > max_days:
            problems.append(f"{user} has maximum password age {days or 'none'}")
    return probe.verdict(problems, f"PASS_MAX_DAYS {configured}, accounts within {max_days}")


@check("accounts_password_min_age")
def accounts_password_min_age(host: HostLike, *, min_days: int = 1) -> CheckOutcome:
    """A new password must be kept ``min_days`` before the next change (PASS_MIN_DAYS)."""
    probe = Probe(host)
    configured = as_int(login_defs(probe).get("PASS_MIN_DAYS")) or 0
    return probe.verdict(
        [f"PASS_MIN_DAYS is {configured}, must be >= {min_days}"] if configured < min_days else [],
        f"PASS_MIN_DAYS {configured}",
    )


@check("accounts_password_hash_strong")
def accounts_password_hash_strong(
    host: HostLike, *, allowed: Sequence[str] = ("yescrypt", "sha512")
) -> CheckOutcome:
    """pam_unix stores new passwords with yescrypt or SHA-512."""
    probe = Probe(host)
    lines = pam_lines(probe, "common-password", "pam_unix.so")
    if not lines:
        return probe.failed("pam_unix is not in /etc/pam.d/common-password")
    used = [flag for flag in module_args(lines) if flag in ("yescrypt", "sha512", "sha256", "md5")]
    method = used[-1] if used else "unset"
    problems = [] if method in allowed else [f"pam_unix hashes with {method}, not {allowed}"]
    return probe.verdict(problems, f"pam_unix hashes with {method}")


@check("accounts_lockout")
def accounts_lockout(host: HostLike, *, max_failures: int = 5) -> CheckOutcome:
    """pam_faillock locks an account after at most ``max_failures`` failed logins."""
    probe = Probe(host)
    lines = pam_lines(probe, "common-auth", "pam_faillock.so")
    text = "\n".join(lines)
    if "preauth" not in text or "authfail" not in text:
        return probe.failed("pam_faillock preauth/authfail is not in /etc/pam.d/common-auth")
    settings = key_values(probe.run("cat /etc/security/faillock.conf").stdout)
    settings.update(module_args(lines))
    deny = as_int(settings.get("deny"))
    deny = 3 if deny is None else deny
    if deny == 0 or deny > max_failures:
        return probe.failed(f"deny is {deny}, must be 1..{max_failures}")
    return probe.passed(f"locked after {deny} failures")


@check("accounts_inactive_lock")
def accounts_inactive_lock(host: HostLike, *, max_days: int = 45) -> CheckOutcome:
    """New accounts are disabled ``max_days`` after their password expires unused (useradd -D)."""
    probe = Probe(host)
    inactive = as_int(key_values(probe.run("useradd -D").stdout).get("INACTIVE"))
    if inactive is None or inactive < 0 or inactive > max_days:
        return probe.failed(f"useradd INACTIVE is {inactive}, must be 0..{max_days}")
    return probe.passed(f"INACTIVE={inactive}")


@check("accounts_no_empty_passwords")
def accounts_no_empty_passwords(host: HostLike) -> CheckOutcome:
    """No account in /etc/shadow has an empty password field."""
    probe = Probe(host)
    result = probe.run("awk -F: '$2 == \"\" {print $1}' /etc/shadow")
    if result.rc != 0:
        return probe.error("cannot read /etc/shadow")
    users = result.stdout.split()
    return probe.verdict([f"empty password: {users}"] if users else [], "no empty password")


@check("accounts_only_root_uid0")
def accounts_only_root_uid0(host: HostLike) -> CheckOutcome:
    """root is the only account with UID 0."""
    probe = Probe(host)
    users = probe.run("awk -F: '$3 == 0 {print $1}' /etc/passwd").stdout.split()
    return probe.verdict(
        [] if users == ["root"] else [f"accounts with UID 0: {users}"], "only root has UID 0"
    )


SUDOERS = "/etc/sudoers /etc/sudoers.d"


def sudo_defaults(probe: Probe, option: str) -> list[str]:
    result = probe.run("grep -rhEs %s " + SUDOERS, rf"^[[:space:]]*Defaults.*\b{option}\b")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


@check("accounts_sudo_logfile")
def accounts_sudo_logfile(host: HostLike) -> CheckOutcome:
    """sudo writes its own log file (Defaults logfile=...)."""
    probe = Probe(host)
    lines = sudo_defaults(probe, "logfile")
    if not lines:
        return probe.failed("no 'Defaults logfile=' in sudoers")
    return probe.passed(lines[0])


@check("accounts_sudo_use_pty")
def accounts_sudo_use_pty(host: HostLike) -> CheckOutcome:
    """sudo runs commands in a pseudo-terminal (Defaults use_pty)."""
    probe = Probe(host)
    lines = [line for line in sudo_defaults(probe, "use_pty") if "!use_pty" not in line]
    return probe.verdict([] if lines else ["no 'Defaults use_pty' in sudoers"], "Defaults use_pty")


@check("accounts_shell_timeout")
def accounts_shell_timeout(host: HostLike, *, max_seconds: int = 900) -> CheckOutcome:
    """Login shells set a read-only TMOUT of at most ``max_seconds``."""
    probe = Probe(host)
    result = probe.run(
        "grep -hEs %s /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc",
        r"^[^#]*\bTMOUT\b",
    )
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    values = [
        as_int(re.sub(r"\D.*", "", line.split("TMOUT=", 1)[1]))
        for line in lines
        if "TMOUT=" in line
    ]
    readonly = any(re.search(r"\breadonly\b|\b(declare|typeset)\s+-\w*r", line) for line in lines)
    problems = []
    if not values:
        problems.append("TMOUT is not set in /etc/profile, /etc/profile.d or /etc/bash.bashrc")
    elif any(v is None or v <= 0 or v > max_seconds for v in values):
        problems.append(f"TMOUT values {values}, each must be 1..{max_seconds}")
    elif not readonly:
        problems.append("TMOUT is not read-only")
    return probe.verdict(problems, f"TMOUT {values}")


@check("accounts_sudo_group_members")
def accounts_sudo_group_members(
    host: HostLike, *, allowed: Sequence[str] = ("pdicops",)
) -> CheckOutcome:
    """The sudo group holds only the listed administrator accounts."""
    probe = Probe(host)
    result = probe.run("getent group sudo")
    field = result.stdout.strip().split(":")[-1] if result.stdout.strip() else ""
    members = [m for m in field.split(",") if m]
    extra = sorted(set(members) - set(allowed))
    return probe.verdict(
        [f"sudo group has members outside the allowed list: {extra}"] if extra else [],
        f"sudo group: {members}",
    )


BANNER_FILES = ("/etc/issue", "/etc/issue.net")
BANNER_WORDS = ("warning", "authori", "monitor", "logged", "law", "prohibit", "cảnh báo")
"""Words of a legal warning (English word stems, and the Vietnamese heading)."""
SYSTEM_ESCAPES = re.compile(r"\\[mrsv]")
"""getty escapes that print the machine, release, system name and version."""


@check("accounts_login_banner")
def accounts_login_banner(
    host: HostLike,
    *,
    paths: Sequence[str] = BANNER_FILES,
    keywords: Sequence[str] = BANNER_WORDS,
    min_keywords: int = 3,
) -> CheckOutcome:
    """The login banners warn that access is for authorised users and is monitored.

    Each file must hold at least ``min_keywords`` of ``keywords`` (case-insensitive) and no
    getty escape that shows the system's name or version (\\m, \\r, \\s, \\v).
    """
    probe = Probe(host)
    problems = []
    for path in paths:
        result = probe.run("cat -- %s", path)
        text = result.stdout
        if result.rc != 0 or not text.strip():
            problems.append(f"{path} is missing or empty")
            continue
        found = [word for word in keywords if word in text.lower()]
        if len(found) < min_keywords:
            problems.append(
                f"{path} holds {len(found)} of the warning words {list(keywords)}, "
                f"must hold >= {min_keywords}"
            )
        if SYSTEM_ESCAPES.search(text):
            problems.append(f"{path} shows the system's name or version (\\m, \\r, \\s or \\v)")
    return probe.verdict(problems, f"legal banner in {', '.join(paths)}")


def umask_value(text: str | None) -> int | None:
    """An octal umask (``027``, ``0027``) as a number; None when it is not one."""
    if text is None or not re.fullmatch(r"0?[0-7]{3}", text):
        return None
    return int(text, 8)


@check("accounts_default_umask")
def accounts_default_umask(host: HostLike, *, umask: str = "027") -> CheckOutcome:
    """login.defs' UMASK removes at least the bits of ``umask`` (no access for others)."""
    probe = Probe(host)
    wanted = umask_value(umask)
    if wanted is None:
        raise ValueError(f"umask must be octal such as '027', not {umask!r}")
    configured = login_defs(probe).get("UMASK", "022")
    value = umask_value(configured)
    if value is None or value & wanted != wanted:
        return probe.failed(f"UMASK is {configured}, must remove at least the bits of {umask}")
    return probe.passed(f"UMASK {configured}")


@check("accounts_password_hash_rounds")
def accounts_password_hash_rounds(host: HostLike, *, min_rounds: int = 65536) -> CheckOutcome:
    """SHA-512 crypt uses at least ``min_rounds`` rounds (SHA_CRYPT_MIN/MAX_ROUNDS)."""
    probe = Probe(host)
    settings = login_defs(probe)
    problems = []
    for key in ("SHA_CRYPT_MIN_ROUNDS", "SHA_CRYPT_MAX_ROUNDS"):
        rounds = as_int(settings.get(key))
        if rounds is None:
            problems.append(f"{key} is not set (5000 rounds)")
        elif rounds < min_rounds:
            problems.append(f"{key} is {rounds}, must be >= {min_rounds}")
    keys = ("SHA_CRYPT_MIN_ROUNDS", "SHA_CRYPT_MAX_ROUNDS")
    return probe.verdict(problems, ", ".join(f"{k} {settings.get(k)}" for k in keys))


@check("accounts_pam_tmpdir")
def accounts_pam_tmpdir(host: HostLike) -> CheckOutcome:
    """Each login session gets its own temporary directory (pam_tmpdir in common-session)."""
    probe = Probe(host)
    lines = pam_lines(probe, "common-session", "pam_tmpdir.so")
    if not lines:
        return probe.failed("pam_tmpdir is not in /etc/pam.d/common-session")
    return probe.passed(lines[0])
