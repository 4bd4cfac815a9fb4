"""Update checks: unattended security upgrades configured, run recently, nothing pending.

"Security updates applied within N days" is checked as its two observable halves: the
unattended-upgrades run and the package lists are at most N days old, and a simulated upgrade
from those lists has no security update left to install.
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
    installed_packages,
)

PERIODIC = "/var/lib/apt/periodic"


@check("updates_unattended_upgrades_enabled")
def updates_unattended_upgrades_enabled(host: HostLike) -> CheckOutcome:
    """unattended-upgrades is installed and APT runs it daily, after refreshing the lists."""
    probe = Probe(host)
    status = probe.run("dpkg-query -W -f='${db:Status-Status}' unattended-upgrades").stdout
    problems = [] if status.strip() == "installed" else ["unattended-upgrades is not installed"]
    dump = probe.run("apt-config dump APT::Periodic").stdout
    for key in ("APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"):
        values = [line.split(" ", 1)[1] for line in dump.splitlines() if line.startswith(key + " ")]
        if not values or values[-1].strip('";') in ("0", ""):
            problems.append(f"{key} is not enabled")
    return probe.verdict(problems, "unattended-upgrades runs daily")


@check("updates_security_origin")
def updates_security_origin(host: HostLike) -> CheckOutcome:
    """unattended-upgrades installs from the Debian security archive."""
    probe = Probe(host)
    dump = probe.run(
        "apt-config dump | grep -E '^Unattended-Upgrade::(Origins-Pattern|Allowed-Origins)'"
    ).stdout
    security = [line for line in dump.splitlines() if "security" in line.lower()]
    return probe.verdict(
        [] if security else ["no Debian-Security origin for unattended-upgrades"],
        security[0] if security else "",
    )


@check("updates_security_applied")
def updates_security_applied(host: HostLike) -> CheckOutcome:
    """A simulated upgrade has no security update left to install."""
    probe = Probe(host)
    result = probe.run("apt-get -s -o Debug::NoLocking=1 dist-upgrade")
    if result.rc != 0:
        return probe.error("apt-get -s dist-upgrade failed")
    pending = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("Inst ") and "-security" in line
    ]
    return probe.verdict(
        [f"{len(pending)} security updates pending: {pending[:20]}"] if pending else [],
        "no security update pending",
    )


def _stamp_age_days(probe: Probe, path: str) -> float | None:
    result = probe.run("stat -c %%Y -- %s", path)
    now = as_int(probe.run("date +%s").stdout.strip())
    stamp = as_int(result.stdout.strip()) if result.rc == 0 else None
    if stamp is None or now is None:
        return None
    return (now - stamp) / 86400


def _stamp_recent(host: HostLike, stamp: str, max_days: int, never: str, what: str) -> CheckOutcome:
    """pass when an APT periodic ``stamp`` is at most ``max_days`` old; fail with ``never``."""
    probe = Probe(host)
    age = _stamp_age_days(probe, f"{PERIODIC}/{stamp}")
    if age is None:
        return probe.failed(never)
    return probe.verdict(
        [f"{what} {age:.1f} days ago, must be <= {max_days}"] if age > max_days else [],
        f"{what} {age:.1f} days ago",
    )


@check("updates_recent_run")
def updates_recent_run(host: HostLike, *, max_days: int = 2) -> CheckOutcome:
    """unattended-upgrades ran within ``max_days`` days (its APT periodic stamp)."""
    return _stamp_recent(
        host,
        "unattended-upgrades-stamp",
        max_days,
        "unattended-upgrades has never run (no stamp)",
        "last run",
    )


@check("updates_lists_fresh")
def updates_lists_fresh(host: HostLike, *, max_days: int = 2) -> CheckOutcome:
    """The package lists were refreshed successfully within ``max_days`` days."""
    return _stamp_recent(
        host,
        "update-success-stamp",
        max_days,
        "no successful periodic apt update (no update-success-stamp)",
        "lists refreshed",
    )


@check("updates_no_stale_reboot")
def updates_no_stale_reboot(host: HostLike, *, max_days: int = 7) -> CheckOutcome:
    """A reboot an update asked for is not pending longer than ``max_days`` days."""
    probe = Probe(host)
    if probe.run("test -e /run/reboot-required").rc != 0:
        return probe.passed("no reboot required")
    age = _stamp_age_days(probe, "/run/reboot-required")
    if age is None or age > max_days:
        return probe.failed(f"reboot required for {age or 0:.1f} days (> {max_days})")
    return probe.passed(f"reboot required since {age:.1f} days (<= {max_days})")


NEEDRESTART_CONF = (
    "cat /etc/needrestart/needrestart.conf /etc/needrestart/conf.d/*.conf 2>/dev/null"
)
NRCONF_RESTART = re.compile(r"""^\s*\$nrconf\{restart\}\s*=\s*['"](\w)['"]""")


@check("updates_needrestart_list_only")
def updates_needrestart_list_only(host: HostLike) -> CheckOutcome:
    """needrestart lists what runs outdated libraries and restarts nothing itself (mode l).

    needrestart reads needrestart.conf, then conf.d/*.conf in order: the last setting counts;
    with none it asks interactively (i).
    """
    probe = Probe(host)
    if not installed_packages(probe, ["needrestart"]):
        return probe.failed("needrestart is not installed")
    modes = [
        match.group(1)
        for line in probe.run(NEEDRESTART_CONF).stdout.splitlines()
        if (match := NRCONF_RESTART.match(line))
    ]
    mode = modes[-1] if modes else "i"
    return probe.verdict(
        [] if mode == "l" else [f"$nrconf{{restart}} is '{mode}', must be 'l' (list only)"],
        "$nrconf{restart} = 'l'",
    )


PACKAGE_TOOLS = ("apt-listchanges", "debsums", "apt-show-versions")


@check("updates_package_tools")
def updates_package_tools(
    host: HostLike, *, packages: Sequence[str] = PACKAGE_TOOLS
) -> CheckOutcome:
    """The package audit tools are installed (changelogs, checksums, versions)."""
    probe = Probe(host)
    missing = sorted(set(packages) - installed_packages(probe, packages))
    return probe.verdict(
        [f"not installed: {missing}"] if missing else [], f"installed: {', '.join(packages)}"
    )
