"""`pdic audit`: run the control catalogue's checks on the inventory's hosts, in parallel.

For each selected host: connect as the operations account (pdic.connect), detect a container
once, evaluate every control that applies to the host's groups (or the ones asked for), then
apply the waivers and hand the results to the report writers. A host that cannot be reached
gets an ``error`` result for each of its controls: an audit never passes a host it could not see.

It deliberately changes nothing on the hosts and installs nothing there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdic.compliance import report
from pdic.compliance.catalogue import (
    Catalogue,
    ComplianceError,
    Control,
    Waivers,
    check_group_coverage,
    load_catalogue,
    load_waivers,
)
from pdic.compliance.checks import CheckOutcome
from pdic.compliance.evaluate import detect_container, evaluate
from pdic.connect import testinfra_host
from pdic.inventory import Host, load_inventory

FORMATS = ("html", "json", "junit", "prom")
_SUFFIX = {"html": "html", "json": "json", "junit": "xml", "prom": "prom"}


@dataclass(frozen=True)
class AuditRun:
    results: list[report.Result]
    waivers: Waivers
    catalogue: Catalogue


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
            raise ComplianceError(f"--controls: {item!r} is not a control id or id prefix")
        chosen.update((c.id, c) for c in matches)
    return list(chosen.values())


def audit_host(
    host: Host, controls: Sequence[Control], connect: Callable[[Host], Any]
) -> list[report.Result]:
    """Every applicable control on one host."""
    applicable = [c for c in controls if c.applies_to(host.groups)]
    try:
        target = connect(host)
        container = detect_container(target)
    except Exception as exc:  # unreachable: each control is an error, never a pass
        outcome = CheckOutcome("error", f"host unreachable: {type(exc).__name__}: {exc}")
        return [report.Result.from_outcome(c, host.name, outcome) for c in applicable]
    return [
        report.Result.from_outcome(c, host.name, evaluate(c, target, host.groups, container))
        for c in applicable
    ]


def audit(
    inventory: Path | str,
    *,
    catalogue_dir: Path | str,
    limit: str | None = None,
    controls: Sequence[str] | None = None,
    waivers_file: Path | str | None = None,
    workers: int = 10,
    connect: Callable[[Host], Any] | None = None,
    today: dt.date | None = None,
) -> AuditRun:
    """Audit the selected hosts; bad input (controls, waivers, coverage) raises first."""
    inv = load_inventory(inventory)
    catalogue = load_catalogue(catalogue_dir)
    check_group_coverage(catalogue, inv.groups)
    chosen = select_controls(catalogue, controls)
    waivers = Waivers()
    if waivers_file is not None:
        waivers = load_waivers(waivers_file, catalogue, today or dt.date.today())
        waivers.raise_for_problems()
    hosts = inv.select(limit)
    reach = connect or testinfra_host
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        per_host = list(pool.map(lambda h: audit_host(h, chosen, reach), hosts))
    results = report.apply_waivers([r for rs in per_host for r in rs], waivers)
    return AuditRun(results, waivers, catalogue)


def write_reports(
    run: AuditRun, out_dir: Path | str, formats: Sequence[str], title: str
) -> list[Path]:
    """Write the asked-for formats as ``audit.<ext>`` in ``out_dir``; returns the paths."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ComplianceError(f"--format: {', '.join(unknown)}: not one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, Callable[[], str]] = {
        "html": lambda: report.to_html(run.results, run.waivers, title=title),
        "json": lambda: report.to_json(run.results, run.waivers),
        "junit": lambda: report.to_junit(run.results),
        "prom": lambda: report.to_prometheus(run.results, run.waivers),
    }
    paths = []
    for fmt in formats:
        path = out / f"audit.{_SUFFIX[fmt]}"
        # A temporary file then a rename: the exporter never reads a half-written report.
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(writers[fmt](), encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths
