"""What a host says about its updates and its stale processes, read by pure parsers.

- ``apt-get -s dist-upgrade`` (a simulation, no lock taken): one ``Inst`` line per package it
  would install or upgrade; :func:`parse_pending` gives package, old and new version.
- ``needrestart -b -r l`` (batch mode, list only): one ``NEEDRESTART-SVC:`` line per service
  that still runs replaced code; :func:`parse_needrestart`.
- Without needrestart, :data:`DELETED_MAPS` prints, for each process that maps a shared
  library deleted since it started (the file the upgrade replaced), its pid, its cgroup file
  and those lines of its maps; :func:`parse_deleted` maps them to systemd units.

It runs nothing and decides nothing: :mod:`pdic.patch.wave` decides what to restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

APT_UPDATE = "apt-get -qq update"
APT_SIMULATE = "apt-get -s -o Debug::NoLocking=1 dist-upgrade"
APT_INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confdef "
    "-o Dpkg::Options::=--force-confold dist-upgrade"
)
NEEDRESTART = "needrestart -b -r l"
REBOOT_REQUIRED = "/run/reboot-required"
DELETED_MAPS = (
    "for d in /proc/[0-9]*; do "
    "m=$(grep -E '\\.so(\\.[0-9]+)* \\(deleted\\)$' \"$d/maps\" 2>/dev/null) || continue; "
    'echo "PID ${d#/proc/}"; cat "$d/cgroup" 2>/dev/null; printf \'%s\\n\' "$m"; done'
)
NEVER_RESTARTED = re.compile(
    r"^(dbus|dbus-broker|systemd-logind|systemd-manager|emergency|rescue|"
    r"(serial-|container-|console-)?getty(@.*)?)\.service$"
)
"""Units a patch never restarts on its own (needrestart's own list, less the display
managers): restarting them cuts sessions or the bus every service talks over, and
``systemd-manager`` (needrestart's name for PID 1) is no unit at all. The next reboot takes
their new code."""

_INST = re.compile(r"^Inst (\S+)(?: \[([^\]]*)\])? \((\S+)")
_CGROUP_UNIT = re.compile(r"^/system\.slice/(?:.*/)?([^/]+\.service)(?:/.*)?$")
_SO = re.compile(r"\s(/\S+\.so(?:\.[0-9]+)*) \(deleted\)$")


@dataclass(frozen=True)
class Update:
    """One package apt would install or upgrade (``old`` None: newly installed)."""

    package: str
    old: str | None
    new: str

    def line(self) -> str:
        return f"{self.package} {self.old or '(new)'} -> {self.new}"


def parse_pending(text: str) -> list[Update]:
    """The ``Inst`` lines of ``apt-get -s dist-upgrade``, in apt's order."""
    out = []
    for line in text.splitlines():
        match = _INST.match(line.strip())
        if match:
            out.append(Update(match[1], match[2] or None, match[3]))
    return out


def parse_needrestart(text: str) -> list[str]:
    """The services ``needrestart -b -r l`` lists (``NEEDRESTART-SVC: unit``), sorted, once."""
    units = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "NEEDRESTART-SVC" and value.strip():
            unit = value.strip()
            units.add(unit if "." in unit else f"{unit}.service")
    return sorted(units)


def unit_of(cgroup: str) -> str | None:
    """The system service a process's ``/proc/PID/cgroup`` places it in; None for a user
    session, PID 1 or anything outside ``system.slice`` (cgroup v2 ``0::`` or v1's
    ``name=systemd`` line)."""
    for line in cgroup.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3 or not (parts[0] == "0" or parts[1] == "name=systemd"):
            continue
        match = _CGROUP_UNIT.match(parts[2])
        return match[1] if match else None
    return None


def parse_deleted(text: str) -> dict[str, list[str]]:
    """Unit -> the deleted libraries its processes still map, from :data:`DELETED_MAPS`'s
    output. Processes outside a system service (sessions, PID 1) are left out."""
    found: dict[str, set[str]] = {}
    block: list[str] = []

    def close() -> None:
        if not block:
            return
        unit = unit_of("\n".join(block))
        libraries = {m[1] for m in (_SO.search(line) for line in block) if m}
        if unit and libraries:
            found.setdefault(unit, set()).update(libraries)

    for line in text.splitlines():
        if line.startswith("PID "):
            close()
            block = []
        else:
            block.append(line)
    close()
    return {unit: sorted(libs) for unit, libs in sorted(found.items())}


def to_restart(units: list[str]) -> tuple[list[str], list[str]]:
    """``units`` split into those a patch restarts and those it leaves to the next reboot."""
    never = [u for u in units if NEVER_RESTARTED.match(u)]
    return [u for u in units if u not in never], never
