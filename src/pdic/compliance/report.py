"""Audit results, scores, the exit-code rule and the report writers (JSON, JUnit, Prometheus, HTML).

Score (per host and for the centre)::

    weight(control) = 10 critical, 5 high, 3 medium, 1 low
    score = sum(weight of results that pass or are waived)
            / sum(weight of results that pass, are waived, fail or error)

``not_applicable`` results are left out of both sums; an ``error`` counts against the score (the
requirement could not be shown to hold); a failure covered by an active waiver counts as a pass
and is reported as waived. The centre's score pools every host's results in the same formula
(it is not the mean of host scores), so a host with more applicable controls weighs more. A
host with nothing to score has no score (None).

Lynis's verdicts (``pdic audit --lynis``), when there are any, go beside the scores in every
format: a per-host comparison of pdic's score and Lynis's hardening index, and (JSON, JUnit,
HTML) every Lynis warning and suggestion left on the host with its reason.

Writers take the results and return text; they do not write files or run checks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jinja2
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pdic.compliance.catalogue import SEVERITIES, Control, Waiver, Waivers
from pdic.compliance.checks import CheckOutcome, Evidence, Status
from pdic.compliance.lynis import LynisResult
from pdic.compliance.redact import redact

OUTCOMES = ("pass", "waived", "fail", "error", "not_applicable")
NO_WAIVERS = Waivers()
NO_LYNIS: Mapping[str, LynisResult] = {}


@dataclass(frozen=True)
class Result:
    """One control on one host: its status, what was found, and the waiver that covers it."""

    control: Control
    host: str
    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()
    waiver: Waiver | None = None

    @classmethod
    def from_outcome(cls, control: Control, host: str, outcome: CheckOutcome) -> Result:
        """The result of ``outcome``, its message and evidence redacted (pdic.compliance.redact):
        every report is written from results, so no secret a host printed reaches one."""
        evidence = tuple(replace(e, output=redact(e.output)) for e in outcome.evidence)
        return cls(control, host, outcome.status, redact(outcome.message), evidence)

    @property
    def outcome(self) -> str:
        """pass, waived (a failure an active waiver covers), fail, error or not_applicable."""
        return "waived" if self.status == "fail" and self.waiver else self.status

    @property
    def passed(self) -> bool:
        return self.outcome in ("pass", "waived")

    def as_dict(self) -> dict[str, Any]:
        return {
            "control": self.control.id,
            "host": self.host,
            "severity": self.control.severity,
            "status": self.status,
            "outcome": self.outcome,
            "message": self.message,
            "evidence": [e.as_dict() for e in self.evidence],
            "waiver": self.waiver.as_dict() if self.waiver else None,
        }


def apply_waivers(results: Iterable[Result], waivers: Waivers) -> list[Result]:
    """Attach the active waiver covering each failed result (expired ones are never used)."""
    out = []
    for result in results:
        waiver = waivers.find(result.control.id, result.host) if result.status == "fail" else None
        out.append(replace(result, waiver=waiver) if waiver else result)
    return out


def score(results: Iterable[Result]) -> float | None:
    """The weighted score of ``results`` (module docstring), or None with nothing to score."""
    scored = [r for r in results if r.status != "not_applicable"]
    total = sum(r.control.weight for r in scored)
    if not total:
        return None
    return sum(r.control.weight for r in scored if r.passed) / total


def hosts_of(results: Iterable[Result]) -> list[str]:
    return sorted({r.host for r in results})


def host_scores(results: Sequence[Result]) -> dict[str, float | None]:
    return {h: score(r for r in results if r.host == h) for h in hosts_of(results)}


def counts(results: Iterable[Result]) -> dict[str, int]:
    out = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        out[result.outcome] += 1
    return out


def failed_above(results: Iterable[Result], severity: str) -> bool:
    """Whether a control of ``severity`` or higher failed or errored, unwaived (exit code 1)."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r} ({', '.join(SEVERITIES)})")
    rank = SEVERITIES.index(severity)
    return any(
        r.outcome in ("fail", "error") and SEVERITIES.index(r.control.severity) <= rank
        for r in results
    )


def _controls(results: Iterable[Result]) -> list[Control]:
    seen: dict[str, Control] = {}
    for result in results:
        seen.setdefault(result.control.id, result.control)
    return [seen[k] for k in sorted(seen)]


# JSON


def lynis_comparison(
    results: Sequence[Result], lynis: Mapping[str, LynisResult]
) -> list[dict[str, object]]:
    """One row per host Lynis ran on (or tried to): pdic's score beside Lynis's index."""
    scores = host_scores(results)
    return [
        {"host": host, "pdic_score": scores.get(host), **lynis[host].as_dict()}
        for host in sorted(lynis)
    ]


def to_json(
    results: Sequence[Result],
    waivers: Waivers = NO_WAIVERS,
    generated: dt.datetime | None = None,
    lynis: Mapping[str, LynisResult] = NO_LYNIS,
) -> str:
    when = generated or dt.datetime.now(dt.UTC)
    document = {
        "generated": when.isoformat(),
        "score_formula": "sum(weight pass|waived) / sum(weight pass|waived|fail|error)",
        "weights": {s: c for s, c in zip(SEVERITIES, (10, 5, 3, 1), strict=True)},
        "centre": {"score": score(results), "counts": counts(results)},
        "hosts": {
            h: {"score": s, "counts": counts(r for r in results if r.host == h)}
            for h, s in host_scores(results).items()
        },
        "controls": {
            c.id: {
                "title": {"vi": c.title.vi, "en": c.title.en},
                "severity": c.severity,
                "area": c.area,
                "mappings": {k: list(v) for k, v in c.mappings.items()},
                "inferred_mappings": list(c.inferred_mappings),
            }
            for c in _controls(results)
        },
        "results": [r.as_dict() for r in results],
        "waivers": {
            "active": [w.as_dict() for w in waivers.active],
            "expired": [w.as_dict() for w in waivers.expired],
            "problems": list(waivers.problems),
        },
    }
    if lynis:
        document["lynis"] = {str(row.pop("host")): row for row in lynis_comparison(results, lynis)}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# JUnit XML


def _evidence_text(result: Result) -> str:
    parts = [result.message]
    for e in result.evidence:
        parts.append(f"$ {e.command}   (exit {e.exit_status})\n{e.output}")
    return "\n\n".join(parts)


def to_junit(results: Sequence[Result], lynis: Mapping[str, LynisResult] = NO_LYNIS) -> str:
    """One testsuite per host, one testcase per control x host (classname = control area).

    Lynis's verdict on a host, when there is one, is in the properties of the host's testsuite,
    with a ``lynis_remaining`` property for each point Lynis left (test, kind and reason).
    """
    root = ET.Element("testsuites", name="pdic compliance")
    totals = counts(results)
    root.set("tests", str(len(results)))
    root.set("failures", str(totals["fail"]))
    root.set("errors", str(totals["error"]))
    root.set("skipped", str(totals["not_applicable"]))
    for host in hosts_of(results):
        mine = [r for r in results if r.host == host]
        c = counts(mine)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=host,
            tests=str(len(mine)),
            failures=str(c["fail"]),
            errors=str(c["error"]),
            skipped=str(c["not_applicable"]),
        )
        if host in lynis:
            found = lynis[host]
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", name="lynis_status", value=found.status)
            if found.hardening_index is not None:
                for key, value in (
                    ("lynis_hardening_index", found.hardening_index),
                    ("lynis_warnings", found.warnings),
                    ("lynis_suggestions", found.suggestions),
                ):
                    ET.SubElement(props, "property", name=key, value=str(value))
            if found.note:
                ET.SubElement(props, "property", name="lynis_note", value=found.note)
            for point in found.remaining:  # one property per point left, with its reason
                f = point.finding
                left = f"{f.test} {f.kind}: {point.why.en}"
                ET.SubElement(props, "property", name="lynis_remaining", value=left)
        for result in sorted(mine, key=lambda r: r.control.id):
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"pdic.compliance.{result.control.area}",
                name=f"{result.control.id} {result.control.title.en} [{host}]",
            )
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="control", value=result.control.id)
            ET.SubElement(props, "property", name="severity", value=result.control.severity)
            ET.SubElement(props, "property", name="outcome", value=result.outcome)
            if result.outcome == "fail":
                ET.SubElement(case, "failure", message=result.message).text = _evidence_text(result)
            elif result.outcome == "error":
                ET.SubElement(case, "error", message=result.message).text = _evidence_text(result)
            elif result.outcome == "not_applicable":
                ET.SubElement(case, "skipped", message=result.message)
            else:
                if result.waiver:
                    w = result.waiver
                    ET.SubElement(props, "property", name="waiver", value=w.justification)
                    ET.SubElement(props, "property", name="waiver_approver", value=w.approver)
                    ET.SubElement(
                        props, "property", name="waiver_expires", value=w.expires.isoformat()
                    )
                ET.SubElement(case, "system-out").text = _evidence_text(result)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# Prometheus text format


class ResultsCollector(Collector):
    """The results of one audit as metrics, fresh at each collect.

    Emits::

        # HELP pdic_compliance_control_status 1 if the control passes (or is waived) on the host, 0 if it fails or errors.
        # HELP pdic_compliance_control_waived 1 if the control fails on the host under an active waiver.
        # HELP pdic_compliance_score_ratio Weighted compliance score of the host (0..1).
        # HELP pdic_compliance_centre_score_ratio Weighted compliance score of the whole centre (0..1).
        # HELP pdic_compliance_results Number of results per host and outcome.
        # HELP pdic_compliance_waivers_expired Number of waivers past their expiry date.
        # HELP pdic_lynis_hardening_index Lynis hardening index of the host (0..100), with --lynis.
        # HELP pdic_lynis_warnings Lynis warnings on the host, with --lynis.
        # HELP pdic_lynis_suggestions Lynis suggestions on the host, with --lynis.
    """  # noqa: E501 - the HELP lines are quoted exactly

    def __init__(
        self,
        results: Sequence[Result],
        waivers: Waivers = NO_WAIVERS,
        lynis: Mapping[str, LynisResult] = NO_LYNIS,
    ) -> None:
        self.results = list(results)
        self.waivers = waivers
        self.lynis = dict(lynis)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = GaugeMetricFamily(
            "pdic_compliance_control_status",
            "1 if the control passes (or is waived) on the host, 0 if it fails or errors.",
            labels=["control", "host", "severity"],
        )
        waived = GaugeMetricFamily(
            "pdic_compliance_control_waived",
            "1 if the control fails on the host under an active waiver.",
            labels=["control", "host", "severity"],
        )
        for r in self.results:
            if r.status == "not_applicable":
                continue
            labels = [r.control.id, r.host, r.control.severity]
            status.add_metric(labels, 1.0 if r.passed else 0.0)
            if r.outcome == "waived":
                waived.add_metric(labels, 1.0)
        yield status
        yield waived
        ratio = GaugeMetricFamily(
            "pdic_compliance_score_ratio",
            "Weighted compliance score of the host (0..1).",
            labels=["host"],
        )
        for host, value in host_scores(self.results).items():
            if value is not None:
                ratio.add_metric([host], value)
        yield ratio
        centre = score(self.results)
        yield GaugeMetricFamily(
            "pdic_compliance_centre_score_ratio",
            "Weighted compliance score of the whole centre (0..1).",
            value=centre if centre is not None else float("nan"),
        )
        per = GaugeMetricFamily(
            "pdic_compliance_results",
            "Number of results per host and outcome.",
            labels=["host", "outcome"],
        )
        for host in hosts_of(self.results):
            for outcome, n in counts(r for r in self.results if r.host == host).items():
                per.add_metric([host, outcome], float(n))
        yield per
        yield GaugeMetricFamily(
            "pdic_compliance_waivers_expired",
            "Number of waivers past their expiry date.",
            value=float(len(self.waivers.expired)),
        )
        if not self.lynis:
            return
        families = {
            "hardening_index": GaugeMetricFamily(
                "pdic_lynis_hardening_index",
                "Lynis hardening index of the host (0..100), with --lynis.",
                labels=["host"],
            ),
            "warnings": GaugeMetricFamily(
                "pdic_lynis_warnings", "Lynis warnings on the host, with --lynis.", labels=["host"]
            ),
            "suggestions": GaugeMetricFamily(
                "pdic_lynis_suggestions",
                "Lynis suggestions on the host, with --lynis.",
                labels=["host"],
            ),
        }
        for host, found in sorted(self.lynis.items()):
            if found.hardening_index is None:
                continue  # no Lynis verdict: no sample (the JSON and HTML say why)
            families["hardening_index"].add_metric([host], float(found.hardening_index))
            families["warnings"].add_metric([host], float(found.warnings))
            families["suggestions"].add_metric([host], float(found.suggestions))
        yield from families.values()


def to_prometheus(
    results: Sequence[Result],
    waivers: Waivers = NO_WAIVERS,
    lynis: Mapping[str, LynisResult] = NO_LYNIS,
) -> str:
    registry = CollectorRegistry()
    registry.register(ResultsCollector(results, waivers, lynis))
    return generate_latest(registry).decode("utf-8")


# HTML

TEMPLATES = Path(__file__).parent / "templates"


def to_html(
    results: Sequence[Result],
    waivers: Waivers = NO_WAIVERS,
    generated: dt.datetime | None = None,
    title: str = "",
    lynis: Mapping[str, LynisResult] = NO_LYNIS,
) -> str:
    """A self-contained page (no external assets): Vietnamese and English, one shown at a time."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    hosts = hosts_of(results)
    cells = {(r.control.id, r.host): r for r in results}
    return env.get_template("report.html.j2").render(
        title=title,
        generated=(generated or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M %Z"),
        hosts=hosts,
        controls=_controls(results),
        cells=cells,
        results=sorted(results, key=lambda r: (r.control.id, r.host)),
        centre=score(results),
        centre_counts=counts(results),
        host_scores=host_scores(results),
        waivers=waivers,
        lynis=lynis_comparison(results, lynis),
    )
