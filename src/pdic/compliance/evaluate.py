"""Evaluate one control on one host: container rule first, then each of its checks.

This is the per-host core of an audit. Choosing hosts from the inventory, connecting to them
and running hosts in parallel is the runner's job (``pdic audit``, not here yet); it calls
:func:`detect_container` once per host and :func:`evaluate` once per control.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pdic.compliance.catalogue import Control
from pdic.compliance.checks import CheckOutcome, Evidence, HostLike, Probe, in_container, registry

_ORDER = {"error": 3, "fail": 2, "pass": 1, "not_applicable": 0}


def detect_container(host: HostLike) -> tuple[str | None, Evidence]:
    """The container technology of ``host`` (None for a VM or bare metal), with evidence."""
    probe = Probe(host)
    name = in_container(probe)
    return name, probe.evidence[0]


def evaluate(
    control: Control,
    host: HostLike,
    host_groups: Iterable[str],
    container: tuple[str | None, Evidence] | None = None,
    host_vars: Mapping[str, Any] | None = None,
) -> CheckOutcome:
    """Run ``control``'s checks on ``host``; one outcome, the worst of its checks.

    A control marked not applicable in containers is ``not_applicable`` on a container host,
    with the reason and the detection command as evidence, never a silent pass. A check that
    raises is an ``error`` naming the exception. ``host_vars`` (the host's inventory variables)
    fill the parameters the catalogue writes ``{inventory: name}``.
    """
    groups = list(host_groups)
    if container is not None and container[0] and not control.container.applicable:
        return CheckOutcome(
            "not_applicable",
            f"not applicable: container ({container[0]}): {control.container.reason}",
            (container[1],),
        )
    outcomes: list[CheckOutcome] = []
    checks = registry()
    for name in control.checks:
        try:
            outcomes.append(checks[name](host, **control.check_params(name, groups, host_vars)))
        except Exception as exc:  # a broken check must not stop the audit of the others
            outcomes.append(CheckOutcome("error", f"{name}: {type(exc).__name__}: {exc}"))
    worst = max(outcomes, key=lambda o: _ORDER[o.status]).status
    message = "; ".join(o.message for o in outcomes if o.status == worst)
    evidence = tuple(e for o in outcomes for e in o.evidence)
    return CheckOutcome(worst, message, evidence)
