"""Lynis as an independent cross-check of the audit (``pdic audit --lynis``).

On each host, over the connection the audit already holds, Lynis runs as
``lynis audit system --quick --no-colors --report-file FILE`` and its report file (Lynis's
``key=value`` format: ``hardening_index=71``, ``warning[]=TEST|text|details|solution|``,
``suggestion[]=TEST|text|details|solution|``) is read back and deleted in the same command.
What is kept is the hardening index, the number of warnings and suggestions, shown beside
pdic's own score, and every warning and suggestion left, each with its reason
(:func:`explain`): out of reach in a container (compliance/lynis.yml's ``out_of_reach``, on a
host the audit found in a container), checked by a pdic control (``checked_by``: that
control's result on the host, a waiver included), or else Lynis's own text.

It does not score Lynis's findings as controls (Lynis has its own test ids and weights) and
installs nothing: a host without Lynis gets a "lynis not installed" note. The hardening role
installs it (``hardening_lynis``). Lynis takes a minute or more per host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pdic.compliance.catalogue import LynisNotes, Text
from pdic.compliance.checks.base import HostLike, Probe, as_int
from pdic.connect import longer_commands

LynisStatus = Literal["ok", "not_installed", "error"]
FindingKind = Literal["warning", "suggestion"]
Reason = Literal["out_of_reach", "pdic_control", "lynis"]

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
class Finding:
    """One ``warning[]`` or ``suggestion[]`` line of a Lynis report (``-`` fields are empty)."""

    kind: FindingKind
    test: str
    text: str
    details: str = ""
    solution: str = ""


@dataclass(frozen=True)
class ControlState:
    """A pdic control's result on the host a Lynis finding was made on."""

    control: str
    outcome: str
    """pass, waived, fail, error, not_applicable, or not_checked (no result for the host: the
    control is not for its groups, or was left out of this audit)."""
    waiver: str = ""
    """The waiver's justification, when one covers the result."""

    def as_dict(self) -> dict[str, Any]:
        return {"control": self.control, "outcome": self.outcome, "waiver": self.waiver or None}


@dataclass(frozen=True)
class Remaining:
    """A Lynis point left on a host and why: the finding, the kind of reason, the reason in
    Vietnamese and English, and the pdic controls that check the same subject."""

    finding: Finding
    reason: Reason
    why: Text
    controls: tuple[ControlState, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        f = self.finding
        return {
            "kind": f.kind,
            "test": f.test,
            "text": f.text,
            "details": f.details,
            "solution": f.solution,
            "reason": self.reason,
            "why": {"vi": self.why.vi, "en": self.why.en},
            "controls": [c.as_dict() for c in self.controls],
        }


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
    findings: tuple[Finding, ...] = ()
    container: str | None = None
    """The container technology the audit found the host in (None: a machine)."""
    remaining: tuple[Remaining, ...] = ()
    """The findings with their reasons (:func:`explain`), in the report's order."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "hardening_index": self.hardening_index,
            "warnings": self.warnings,
            "suggestions": self.suggestions,
            "version": self.version,
            "tests_done": self.tests_done,
            "note": self.note,
            "container": self.container,
            "remaining": [r.as_dict() for r in self.remaining],
        }


def parse_report(host: str, text: str) -> LynisResult:
    """A Lynis report file's text -> its hardening index and finding counts.

    ``warning[]`` and ``suggestion[]`` lines are counted as Lynis lists them (one test id may
    give several suggestions) and kept as findings. A report without ``hardening_index``
    (Lynis stopped early) is an error naming that.
    """
    values: dict[str, str] = {}
    findings: list[Finding] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key in ("warning[]", "suggestion[]"):
            findings.append(_finding("warning" if key == "warning[]" else "suggestion", value))
        else:
            values[key] = value.strip()
    warnings = sum(1 for f in findings if f.kind == "warning")
    index = as_int(values.get("hardening_index"))
    if index is None:
        return LynisResult(host, "error", note="the Lynis report has no hardening_index")
    return LynisResult(
        host,
        "ok",
        hardening_index=index,
        warnings=warnings,
        suggestions=len(findings) - warnings,
        version=values.get("lynis_version"),
        tests_done=as_int(values.get("lynis_tests_done")),
        findings=tuple(findings),
    )


def _finding(kind: FindingKind, value: str) -> Finding:
    """``TEST|text|details|solution|`` (Lynis's ReportWarning/ReportSuggestion) as a finding."""
    fields = [f.strip() for f in value.rstrip("\n").split("|")]
    fields += [""] * (4 - len(fields))
    test, text, details, solution = ("" if f == "-" else f for f in fields[:4])
    return Finding(kind, test, text, details, solution)


_OUTCOME_VI = {
    "pass": "đạt",
    "waived": "miễn trừ",
    "fail": "không đạt",
    "error": "lỗi",
    "not_applicable": "không áp dụng",
    "not_checked": "không kiểm tra ở máy này",
}


_OUTCOME_EN = {"not_checked": "not checked here"}


def _state_text(state: ControlState, lang: str) -> str:
    if lang == "vi":
        outcome = _OUTCOME_VI[state.outcome]
    else:
        outcome = _OUTCOME_EN.get(state.outcome, state.outcome.replace("_", " "))
    waiver = f" ({state.waiver})" if state.waiver else ""
    return f"{state.control} {outcome}{waiver}"


def explain(
    found: LynisResult, notes: LynisNotes, controls: Mapping[str, ControlState]
) -> LynisResult:
    """``found`` with every finding's reason (``remaining``).

    ``controls`` are the results of pdic's controls on the same host by control id (a control
    not there is "not checked here"). The reason is, in this order: out of reach in a container (the
    host is in one and the test is in ``notes.out_of_reach``), checked by pdic (the controls
    ``notes.checked_by`` names, with their outcomes and any waiver), or Lynis's own text. The
    controls are listed with every reason they apply to.
    """
    remaining = []
    for finding in found.findings:
        names = notes.controls_for(finding.test, finding.details)
        states = tuple(controls.get(c, ControlState(c, "not_checked")) for c in names)
        reach = notes.out_of_reach.get(finding.test)
        if found.container and reach is not None:
            reason: Reason = "out_of_reach"
            why = Text(
                f"không thể đạt trong container: {reach.vi}",
                f"out of reach in a container: {reach.en}",
            )
        elif states:
            reason = "pdic_control"
            why = Text(
                "pdic kiểm tra: " + "; ".join(_state_text(s, "vi") for s in states),
                "checked by pdic: " + "; ".join(_state_text(s, "en") for s in states),
            )
        else:
            reason = "lynis"
            said = finding.text + (f" ({finding.details})" if finding.details else "")
            why = Text(f"Lynis: {said}", said)
        remaining.append(Remaining(finding, reason, why, states))
    return replace(found, remaining=tuple(remaining))


LYNIS_SECONDS = 1800.0
"""The deadline of a Lynis run (every other command keeps the connection's)."""


def run_lynis(host_name: str, host: HostLike, container: str | None = None) -> LynisResult:
    """Run Lynis on one host (through sudo, as every check) and read its report.

    ``container`` is the container technology the audit found the host in (None: a machine).
    """
    probe = Probe(host)
    if probe.run(FIND_LYNIS).rc != 0:
        return LynisResult(host_name, "not_installed", note=NOT_INSTALLED, container=container)
    with longer_commands(host, LYNIS_SECONDS):  # the one command that takes minutes
        result = probe.run(RUN_LYNIS)
    if not result.stdout.strip():
        note = f"lynis wrote no report (exit {result.rc})"
        return LynisResult(host_name, "error", note=note, container=container)
    return replace(parse_report(host_name, result.stdout), container=container)


def unreachable(host_name: str, why: str) -> LynisResult:
    return LynisResult(host_name, "error", note=f"host unreachable: {why}")
