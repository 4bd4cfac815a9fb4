"""File checks: modes and owners of sensitive files, world-writable files, SUID inventory, core
dumps (files that can hold any secret a crashed process had in memory), file integrity
monitoring (AIDE: its baseline, and a recent result of its check as role aide publishes it).

Modes are compared as "no more than": a check fails when the file grants a permission bit the
limit does not (``/etc/shadow`` at 0600 passes a 0640 limit; at 0644 it fails).
"""

from __future__ import annotations

from collections.abc import Sequence

from pdic.compliance.checks.base import (
    CheckOutcome,
    HostLike,
    Probe,
    as_int,
    check,
    installed_packages,
    key_values,
    limits_entries,
    mode_problems,
    recent_result,
    sysctl_check,
)

SYSTEM_PATHS = ("/etc", "/usr", "/boot", "/opt", "/srv", "/var/lib", "/var/spool", "/root")

# Debian 12's own setuid/setgid programs (base system, sudo, openssh, dbus, postfix, cron).
DEBIAN_SUID_SGID = (
    "/usr/bin/chage",
    "/usr/bin/chfn",
    "/usr/bin/chsh",
    "/usr/bin/crontab",
    "/usr/bin/dotlockfile",
    "/usr/bin/expiry",
    "/usr/bin/fusermount3",
    "/usr/bin/gpasswd",
    "/usr/bin/mount",
    "/usr/bin/newgrp",
    "/usr/bin/passwd",
    "/usr/bin/ssh-agent",
    "/usr/bin/su",
    "/usr/bin/sudo",
    "/usr/bin/umount",
    "/usr/bin/wall",
    "/usr/bin/write.ul",
    "/usr/lib/dbus-1.0/dbus-daemon-launch-helper",
    "/usr/lib/openssh/ssh-keysign",
    "/usr/lib/polkit-1/polkit-agent-helper-1",
    "/usr/sbin/pam-tmpdir-helper",  # libpam-tmpdir (hardening_pam_tmpdir): makes /tmp/user/UID
    "/usr/sbin/pam_extrausers_chkpwd",
    "/usr/sbin/postdrop",
    "/usr/sbin/postqueue",
    "/usr/sbin/unix_chkpwd",
)


# Where role aide keeps AIDE's baseline and where its check publishes its result.
AIDE_DATABASE = "/var/lib/aide/aide.db"
AIDE_TEXTFILE = "/var/lib/prometheus/node-exporter/pdic_aide.prom"
AIDE_TIMER = "pdic-aide-check.timer"


def file_mode(
    host: HostLike, path: str, limit: int, owners: Sequence[str], groups: Sequence[str]
) -> CheckOutcome:
    """``path`` exists with no permission beyond ``limit``, owned by one of owners:groups."""
    probe = Probe(host)
    problems, shown = mode_problems(probe, path, limit, owners, groups)
    return probe.verdict(problems, shown)


@check("files_passwd_permissions")
def files_passwd_permissions(host: HostLike) -> CheckOutcome:
    """/etc/passwd is 0644 or stricter, root:root."""
    return file_mode(host, "/etc/passwd", 0o644, ["root"], ["root"])


@check("files_group_permissions")
def files_group_permissions(host: HostLike) -> CheckOutcome:
    """/etc/group is 0644 or stricter, root:root."""
    return file_mode(host, "/etc/group", 0o644, ["root"], ["root"])


@check("files_shadow_permissions")
def files_shadow_permissions(host: HostLike) -> CheckOutcome:
    """/etc/shadow is 0640 or stricter, root:shadow (or root:root)."""
    return file_mode(host, "/etc/shadow", 0o640, ["root"], ["shadow", "root"])


@check("files_gshadow_permissions")
def files_gshadow_permissions(host: HostLike) -> CheckOutcome:
    """/etc/gshadow is 0640 or stricter, root:shadow (or root:root)."""
    return file_mode(host, "/etc/gshadow", 0o640, ["root"], ["shadow", "root"])


@check("files_sudoers_permissions")
def files_sudoers_permissions(host: HostLike) -> CheckOutcome:
    """/etc/sudoers is 0440 or stricter, root:root."""
    return file_mode(host, "/etc/sudoers", 0o440, ["root"], ["root"])


@check("files_sshd_config_permissions")
def files_sshd_config_permissions(host: HostLike) -> CheckOutcome:
    """/etc/ssh/sshd_config is 0600 or stricter, root:root."""
    return file_mode(host, "/etc/ssh/sshd_config", 0o600, ["root"], ["root"])


def _found(probe: Probe, command: str, *args: object) -> list[str] | None:
    """Lines a ``find`` printed; None when it failed outright (nothing was searched)."""
    result = probe.run(command, *args)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.rc != 0 and not lines and not result.stderr.strip().startswith("find:"):
        return None
    return lines


def _paths_args(paths: Sequence[str]) -> str:
    return " ".join(["%s"] * len(paths))


@check("files_private_keys_protected")
def files_private_keys_protected(
    host: HostLike, *, paths: Sequence[str] = ("/etc/ssl/private", "/etc/ssh")
) -> CheckOutcome:
    """Private keys (``*_key``, ``*.key``, all of /etc/ssl/private) grant nothing to others."""
    probe = Probe(host)
    command = (
        f"find {_paths_args(paths)} -xdev -type f "
        r"\( -name '*_key' -o -name '*.key' -o -path '/etc/ssl/private/*' \) -perm /0007"
    )
    found = _found(probe, command, *paths)
    if found is None:
        return probe.error("find failed")
    return probe.verdict([f"readable by others: {found}"] if found else [], "no key open to others")


@check("files_no_world_writable")
def files_no_world_writable(host: HostLike, *, paths: Sequence[str] = SYSTEM_PATHS) -> CheckOutcome:
    """No world-writable regular file under the system paths."""
    probe = Probe(host)
    found = _found(probe, f"find {_paths_args(paths)} -xdev -type f -perm -0002", *paths)
    if found is None:
        return probe.error("find failed")
    return probe.verdict(
        [f"{len(found)} world-writable files: {found[:20]}"] if found else [],
        f"no world-writable file under {' '.join(paths)}",
    )


@check("files_world_writable_dirs_sticky")
def files_world_writable_dirs_sticky(host: HostLike) -> CheckOutcome:
    """Every world-writable directory has the sticky bit (/tmp-like), on the root filesystem."""
    probe = Probe(host)
    found = _found(probe, "find / -xdev -type d -perm -0002 ! -perm -1000")
    if found is None:
        return probe.error("find failed")
    return probe.verdict(
        [f"world-writable directories without sticky bit: {found[:20]}"] if found else [],
        "every world-writable directory is sticky",
    )


@check("files_no_unowned")
def files_no_unowned(host: HostLike) -> CheckOutcome:
    """No file on the root filesystem without a known owner or group."""
    probe = Probe(host)
    found = _found(probe, r"find / -xdev \( -nouser -o -nogroup \)")
    if found is None:
        return probe.error("find failed")
    return probe.verdict(
        [f"{len(found)} unowned files: {found[:20]}"] if found else [], "no unowned file"
    )


@check("files_suid_sgid_inventory")
def files_suid_sgid_inventory(
    host: HostLike, *, approved: Sequence[str] = DEBIAN_SUID_SGID
) -> CheckOutcome:
    """Every setuid/setgid program on the root filesystem is in the approved inventory."""
    probe = Probe(host)
    found = _found(probe, "find / -xdev -type f -perm /6000")
    if found is None:
        return probe.error("find failed")
    extra = sorted(set(found) - set(approved))
    return probe.verdict(
        [f"setuid/setgid programs outside the approved list: {extra}"] if extra else [],
        f"{len(found)} setuid/setgid programs, all approved",
    )


LIMITS_FILES = "cat /etc/security/limits.conf /etc/security/limits.d/*.conf 2>/dev/null"
COREDUMP_CONF = "systemd-analyze cat-config systemd/coredump.conf"


@check("files_core_dumps_disabled")
def files_core_dumps_disabled(host: HostLike) -> CheckOutcome:
    """No core dump is written: ``* hard core 0`` for logins, systemd-coredump keeps nothing.

    pam_limits reads limits.conf, then limits.d in order: the last ``*`` hard (or ``-``) core
    line counts. systemd-coredump's settings are read after every drop-in.
    """
    probe = Probe(host)
    problems = []
    hard = [
        value
        for domain, kind, item, value in limits_entries(probe.run(LIMITS_FILES).stdout)
        if domain == "*" and item == "core" and kind in ("hard", "-")
    ]
    if not hard:
        problems.append("no '* hard core 0' in /etc/security/limits.conf or limits.d")
    elif hard[-1] != "0":
        problems.append(f"'* hard core' is {hard[-1]}, must be 0")
    result = probe.run(COREDUMP_CONF)
    if result.rc != 0:
        problems.append("systemd-coredump's configuration cannot be read")
    else:
        settings = key_values(result.stdout)
        for key, want in (("Storage", "none"), ("ProcessSizeMax", "0")):
            if settings.get(key) != want:
                problems.append(f"coredump.conf {key}={settings.get(key, 'unset')}, must be {want}")
    return probe.verdict(problems, "* hard core 0; coredump Storage=none, ProcessSizeMax=0")


@check("files_suid_core_dumps_disabled")
def files_suid_core_dumps_disabled(host: HostLike) -> CheckOutcome:
    """setuid programs never dump core (fs.suid_dumpable = 0)."""
    return sysctl_check(host, {"fs.suid_dumpable": "0"})


@check("files_aide_baseline")
def files_aide_baseline(host: HostLike, *, database: str = AIDE_DATABASE) -> CheckOutcome:
    """AIDE is installed and has a baseline database to compare the files with."""
    probe = Probe(host)
    problems = []
    if "aide" not in installed_packages(probe, ["aide"]):
        problems.append("aide is not installed")
    size = as_int(probe.run("stat -c %%s -- %s", database).stdout.strip())
    if not size:
        problems.append(f"no AIDE baseline database {database}")
    return probe.verdict(problems, f"aide installed, baseline {database} of {size} bytes")


@check("files_aide_check_recent")
def files_aide_check_recent(
    host: HostLike, *, textfile: str = AIDE_TEXTFILE, max_age_hours: int = 26
) -> CheckOutcome:
    """The AIDE check's timer is enabled and active, and its last result, published for
    node_exporter, is less than ``max_age_hours`` old and compared the files with the baseline."""
    probe = Probe(host)
    found = recent_result(
        probe,
        [AIDE_TIMER],
        textfile,
        "pdic_aide_last_check_timestamp_seconds",
        max_age_hours,
        "AIDE check",
    )
    if found is None:
        return probe.error("the host's clock could not be read")
    samples, problems = found
    checked = "pdic_aide_last_check_timestamp_seconds" in samples
    if checked and samples.get("pdic_aide_check_success") != 1:
        problems.append("the last AIDE check could not compare the files with the baseline")
    return probe.verdict(problems, f"{AIDE_TIMER} active, last check < {max_age_hours} h ago")
