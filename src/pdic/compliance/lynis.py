"""Lynis as an independent cross-check of the audit (``pdic audit --lynis``).

On each host, over the connection the audit already holds, Lynis runs as
``lynis audit system --quick --no-colors --report-file FILE`` and its report file (Lynis's
``key=value`` format: ``hardening_index=71``, ``warning[]=TEST|text|...``,
``suggestion[]=TEST|text|...``) is read back and deleted in the same command. What is kept is
the hardening index and the number of warnings and suggestions, shown beside pdic's own score.

It deliberately does not map Lynis's findings to controls (Lynis has its own test ids and
weights) and installs nothing: a host without Lynis gets a "lynis not installed" note. The
hardening role installs it (``hardening_lynis``). Lynis takes a minute or more per host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pdic.compliance.checks.base import HostLike, Probe, as_int
from pdic.connect import longer_commands

LynisStatus = Literal["ok", "not_installed", "error"]

FIND_LYNIS = "command -v lynis"
# One round trip: a private report file, Lynis's own output discarded (it is for a terminal),
# the report printed, then removed whatever happened. Lynis's exit code is kept.
RUN_LYNIS = (
    "f=$(mktemp /var/tmp/pdic-lynis.XXXXXX) && "
    'lynis audit system --quick --no-colors --report-file "$f" --logfile /dev/null '
    '>/dev/null 2>&1; rc=$?; cat "$f" 2>/dev/null; rm -f "$f"; exit $rc'
)
NOT_INSTALLED = "lynis not installed"


@dataclass(frozen=True)
class LynisResult:
    """What Lynis said of one host, or why there is nothing."""

    host: str
    status: LynisStatus
    hardening_index: int | None = None
    warnings: int = 0
    suggestions: int = 0
    version: str | None = None
    tests_done: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "hardening_index": self.hardening_index,
            "warnings": self.warnings,
            "suggestions": self.suggestions,
            "version": self.version,
            "tests_done": self.tests_done,
            "note": self.note,
        }


def parse_report(host: str, text: str) -> LynisResult:
    """A Lynis report file's text -> its hardening index and finding counts.

    ``warning[]`` and ``suggestion[]`` lines are counted as Lynis lists them (one test id may
    give several suggestions). A report without ``hardening_index`` (Lynis stopped early) is an
    error naming that.
    """
    values: dict[str, str] = {}
    warnings = suggestions = 0
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key == "warning[]":
            warnings += 1
        elif key == "suggestion[]":
            suggestions += 1
        else:
            values[key] = value.strip()
    index = as_int(values.get("hardening_index"))
    if index is None:
        return LynisResult(host, "error", note="the Lynis report has no hardening_index")
    return LynisResult(
        host,
        "ok",
        hardening_index=index,
        warnings=warnings,
        suggestions=suggestions,
        version=values.get("lynis_version"),
        tests_done=as_int(values.get("lynis_tests_done")),
    )


LYNIS_SECONDS = 1800.0
"""The deadline of a Lynis run (every other command keeps the connection's)."""


def run_lynis(host_name: str, host: HostLike) -> LynisResult:
    """Run Lynis on one host (through sudo, as every check) and read its report."""
    probe = Probe(host)
    if probe.run(FIND_LYNIS).rc != 0:
        return LynisResult(host_name, "not_installed", note=NOT_INSTALLED)
    with longer_commands(host, LYNIS_SECONDS):  # the one command that takes minutes
        result = probe.run(RUN_LYNIS)
    if not result.stdout.strip():
        return LynisResult(host_name, "error", note=f"lynis wrote no report (exit {result.rc})")
    return parse_report(host_name, result.stdout)


def unreachable(host_name: str, why: str) -> LynisResult:
    return LynisResult(host_name, "error", note=f"host unreachable: {why}")
