"""Read the JSON report of `pdic audit` for the lab tests: results per control and host, what
changed between two audits, Lynis's hardening index before and after a deploy, and the Lynis
points left on each host with their reasons.

Pure functions over the parsed documents (``audit.json``), unit-tested in
tests/unit/compliance/test_lab_audit_json.py; they reach no host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Document = Mapping[str, Any]
Key = tuple[str, str]
"""(control id, host)."""

PASSED = ("pass", "waived")
REASONS = ("out_of_reach", "pdic_control", "lynis")
"""The reasons `pdic audit --lynis` gives a Lynis point left (pdic.compliance.lynis.explain)."""


def results(document: Document) -> dict[Key, Mapping[str, Any]]:
    """Each result of the audit by (control, host)."""
    return {(r["control"], r["host"]): r for r in document["results"]}


def outcomes(document: Document) -> dict[Key, str]:
    """pass, waived, fail, error or not_applicable by (control, host)."""
    return {key: r["outcome"] for key, r in results(document).items()}


def changes(before: Document, after: Document) -> dict[Key, tuple[str | None, str | None]]:
    """(control, host) -> (outcome before, outcome after), where they differ (None: absent)."""
    old, new = outcomes(before), outcomes(after)
    return {
        key: (old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    }


def _other_than(
    document: Document, expected: Iterable[Key], field: str, wanted: tuple[str, ...]
) -> list[str]:
    """A line for each expected (control, host) without a result, or whose ``field`` is not
    one of ``wanted``."""
    found = results(document)
    problems = []
    for control, host in expected:
        result = found.get((control, host))
        if result is None:
            problems.append(f"{control} on {host}: no result")
        elif result[field] not in wanted:
            problems.append(f"{control} on {host}: {result[field]}: {result['message']}")
    return problems


def not_failing(document: Document, expected: Iterable[Key]) -> list[str]:
    """A line for each expected (control, host) whose check did not fail (status ``fail``,
    waived or not: a waiver keeps the check's own verdict in ``status``)."""
    return _other_than(document, expected, "status", ("fail",))


def not_passing(document: Document, expected: Iterable[Key]) -> list[str]:
    """A line for each expected (control, host) that neither passes nor is waived."""
    return _other_than(document, expected, "outcome", PASSED)


def lynis_before_after(before: Document | None, after: Document) -> dict[str, Any]:
    """The small report of a deploy's effect: per host, Lynis's index and pdic's score before
    and after (before: None when the lab was not audited unhardened), the Lynis points left
    after the deploy with their reasons, and the centre's pdic score."""

    def row(document: Document | None, host: str, key: str) -> Any:
        return (document or {}).get("lynis", {}).get(host, {}).get(key)

    hosts = sorted(set((before or {}).get("lynis", {})) | set(after.get("lynis", {})))
    report: dict[str, Any] = {"hosts": {}}
    for host in hosts:
        old, new = row(before, host, "hardening_index"), row(after, host, "hardening_index")
        left = row(after, host, "remaining") or []
        report["hosts"][host] = {
            "lynis_before": old,
            "lynis_after": new,
            "lynis_rise": new - old if old is not None and new is not None else None,
            "pdic_score_before": row(before, host, "pdic_score"),
            "pdic_score_after": row(after, host, "pdic_score"),
            "notes": [n for n in (row(before, host, "note"), row(after, host, "note")) if n],
            "lynis_left": {reason: sum(p["reason"] == reason for p in left) for reason in REASONS},
            "lynis_left_after": [f"{p['test']} {p['kind']}: {p['why']['en']}" for p in left],
        }
    report["centre_pdic_score"] = {
        "before": before["centre"]["score"] if before is not None else None,
        "after": after["centre"]["score"],
    }
    return report


def below(report: Mapping[str, Any], bar: int) -> dict[str, Any]:
    """Each host of a :func:`lynis_before_after` report whose index after is under ``bar``."""
    return {
        host: row["lynis_after"]
        for host, row in report["hosts"].items()
        if row["lynis_after"] is None or row["lynis_after"] < bar
    }


def unexplained_lynis_points(document: Document, out_of_reach: Iterable[str]) -> list[str]:
    """A line for each host whose Lynis points left are not all listed with a reason.

    Every warning and suggestion Lynis counted must be listed, each with a known reason and a
    text in both languages; on a host in a container, a point of a test in ``out_of_reach``
    (compliance/lynis.yml) must be given that reason.
    """
    machine_only = set(out_of_reach)
    problems = []
    for host, row in sorted(document.get("lynis", {}).items()):
        if row.get("status") != "ok":
            problems.append(f"{host}: lynis {row.get('status')}: {row.get('note')}")
            continue
        left = row.get("remaining", [])
        counted = row["warnings"] + row["suggestions"]
        if len(left) != counted:
            problems.append(f"{host}: {counted} points counted, {len(left)} listed")
        for point in left:
            name = f"{host}: {point['test']} {point['kind']} {point['text']!r}"
            why = point.get("why") or {}
            if point.get("reason") not in REASONS or not why.get("vi") or not why.get("en"):
                problems.append(f"{name}: no reason in both languages: {point}")
            elif (
                row.get("container")
                and point["test"] in machine_only
                and point["reason"] != "out_of_reach"
            ):
                problems.append(f"{name}: out of reach in a container, given {why['en']!r}")
    return problems


def format_before_after(report: Mapping[str, Any]) -> list[str]:
    """The report as aligned lines for a terminal (points left: out of reach in a container /
    checked by a pdic control / Lynis's own)."""
    lines = [
        f"{'host':<12} {'lynis before':>12} {'after':>6} {'rise':>5}   pdic before -> after"
        "   points left (reach/pdic/lynis)"
    ]

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    def num(value: int | None) -> str:
        return "-" if value is None else str(value)

    for host, row in report["hosts"].items():
        left = "/".join(str(row["lynis_left"][reason]) for reason in REASONS)
        lines.append(
            f"{host:<12} {num(row['lynis_before']):>12} {num(row['lynis_after']):>6} "
            f"{num(row['lynis_rise']):>5}   {pct(row['pdic_score_before'])} -> "
            f"{pct(row['pdic_score_after'])}   {left}"
        )
    centre = report["centre_pdic_score"]
    lines.append(f"centre pdic score: {pct(centre['before'])} -> {pct(centre['after'])}")
    return lines
