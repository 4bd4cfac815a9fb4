"""`pdic audit`: run the control catalogue's checks on the inventory's hosts, in parallel.

For each selected host: connect as the operations account (pdic.connect), detect a container
once, evaluate every control that applies to the host's groups (or the ones asked for), run
Lynis over the same connection when asked (pdic.compliance.lynis), then apply the waivers,
give each Lynis point left its reason (compliance/lynis.yml and the host's results) and hand
the results to the report writers. The inventory is validated first, as for a deploy. A
host that cannot be reached gets an ``error`` result for each of its controls: an audit never
passes a host it could not see.

It deliberately changes nothing on the hosts and installs nothing there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdic.compliance import report
from pdic.compliance.catalogue import (
    LYNIS_NOTES,
    Catalogue,
    ComplianceError,
    Control,
    LynisNotes,
    Waivers,
    check_group_coverage,
    load_catalogue,
    load_lynis_notes,
    load_waivers,
)
from pdic.compliance.checks import CheckOutcome
from pdic.compliance.evaluate import detect_container, evaluate
from pdic.compliance.lynis import ControlState, LynisResult, explain, run_lynis, unreachable
from pdic.connect import testinfra_host
from pdic.files import private_dir, write_atomically
from pdic.inventory import Host, Inventory

FORMATS = ("html", "json", "junit", "prom")
_SUFFIX = {"html": "html", "json": "json", "junit": "xml", "prom": "prom"}


@dataclass(frozen=True)
class AuditRun:
    results: list[report.Result]
    waivers: Waivers
    catalogue: Catalogue
    lynis: dict[str, LynisResult] = field(default_factory=dict)


def select_controls(catalogue: Catalogue, wanted: Sequence[str] | None) -> list[Control]:
    """Controls by id (or id prefix such as PDIC-SSH); all when ``wanted`` is empty."""
    if not wanted:
        return list(catalogue.controls.values())
    chosen: dict[str, Control] = {}
    for item in wanted:
        matches = [
            c for cid, c in catalogue.controls.items() if cid == item or cid.startswith(f"{item}-")
        ]
        if not matches:
            prefixes = sorted({cid.rsplit("-", 1)[0] for cid in catalogue.controls})
            raise ComplianceError(
                f"--controls: {item!r} is not a control id or id prefix "
                f"(prefixes: {', '.join(prefixes)})"
            )
        chosen.update((c.id, c) for c in matches)
    return list(chosen.values())


def audit_host(
    host: Host, controls: Sequence[Control], connect: Callable[[Host], Any], lynis: bool = False
) -> tuple[list[report.Result], LynisResult | None]:
    """Every applicable control on one host, and Lynis's verdict when asked for."""
    applicable = [c for c in controls if c.applies_to(host.groups)]
    try:
        target = connect(host)
        container = detect_container(target)
    except Exception as exc:  # unreachable: each control is an error, never a pass
        why = f"{type(exc).__name__}: {exc}"
        outcome = CheckOutcome("error", f"host unreachable: {why}")
        results = [report.Result.from_outcome(c, host.name, outcome) for c in applicable]
        return results, unreachable(host.name, why) if lynis else None
    results = [
        report.Result.from_outcome(
            c, host.name, evaluate(c, target, host.groups, container, host.vars)
        )
        for c in applicable
    ]
    if not lynis:
        return results, None
    try:
        found = run_lynis(host.name, target, container[0])
    except Exception as exc:  # a failed Lynis run never hides the controls' results
        note = f"lynis: {type(exc).__name__}: {exc}"
        found = LynisResult(host.name, "error", note=note, container=container[0])
    return results, found


def control_states(results: Sequence[report.Result], host: str) -> dict[str, ControlState]:
    """Each control's outcome on ``host`` (with its waiver's justification), for :func:`explain`."""
    return {
        r.control.id: ControlState(
            r.control.id, r.outcome, r.waiver.justification if r.waiver else ""
        )
        for r in results
        if r.host == host
    }


def audit(
    inventory: Inventory,
    *,
    catalogue_dir: Path | str,
    limit: str | None = None,
    controls: Sequence[str] | None = None,
    waivers_file: Path | str | None = None,
    workers: int = 10,
    connect: Callable[[Host], Any] | None = None,
    today: dt.date | None = None,
    lynis: bool = False,
) -> AuditRun:
    """Audit the selected hosts; bad input (inventory, controls, waivers, coverage) raises first."""
    inv = inventory
    catalogue = load_catalogue(catalogue_dir)
    check_group_coverage(catalogue, inv.groups)
    chosen = select_controls(catalogue, controls)
    notes = (
        load_lynis_notes(Path(catalogue_dir) / LYNIS_NOTES, catalogue) if lynis else LynisNotes()
    )
    waivers = Waivers()
    if waivers_file is not None:
        waivers = load_waivers(waivers_file, catalogue, today or dt.date.today(), set(inv.hosts))
        waivers.raise_for_problems()
    hosts = inv.select(limit)
    reach = connect or testinfra_host
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        per_host = list(pool.map(lambda h: audit_host(h, chosen, reach, lynis), hosts))
    results = report.apply_waivers([r for rs, _ in per_host for r in rs], waivers)
    found = {
        lr.host: explain(lr, notes, control_states(results, lr.host))
        for _, lr in per_host
        if lr is not None
    }
    return AuditRun(results, waivers, catalogue, found)


def write_reports(
    run: AuditRun, out_dir: Path | str, formats: Sequence[str], title: str
) -> list[Path]:
    """Write the asked-for formats as ``audit.<ext>`` in ``out_dir``; returns the paths.

    Reports hold evidence from the hosts: each file is mode 0600, and ``out_dir`` is made
    mode 0700 when it does not exist yet.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ComplianceError(f"--format: {', '.join(unknown)}: not one of {', '.join(FORMATS)}")
    out = private_dir(Path(out_dir))
    writers: dict[str, Callable[[], str]] = {
        "html": lambda: report.to_html(run.results, run.waivers, title=title, lynis=run.lynis),
        "json": lambda: report.to_json(run.results, run.waivers, lynis=run.lynis),
        "junit": lambda: report.to_junit(run.results, lynis=run.lynis),
        "prom": lambda: report.to_prometheus(run.results, run.waivers, lynis=run.lynis),
    }
    paths = []
    for fmt in formats:
        path = out / f"audit.{_SUFFIX[fmt]}"
        # A temporary file then a rename: the exporter never reads a half-written report.
        write_atomically(path, writers[fmt]().encode("utf-8"), mode=0o600)
        paths.append(path)
    return paths
