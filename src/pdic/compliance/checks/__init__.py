"""Check functions for the compliance catalogue, by area, in one registry.

Importing this package registers every check; :func:`registry` returns them by name. The
catalogue loader uses the names to reject a control that names a check that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping

from pdic.compliance.checks import (  # noqa: F401 - imported to register their checks
    accounts,
    backups,
    files,
    logs,
    network,
    services,
    ssh,
    updates,
)
from pdic.compliance.checks.base import (
    REGISTRY,
    STATUSES,
    Check,
    CheckOutcome,
    Evidence,
    HostLike,
    Probe,
    Status,
    check,
    in_container,
)

__all__ = [
    "STATUSES",
    "Check",
    "CheckOutcome",
    "Evidence",
    "HostLike",
    "Probe",
    "Status",
    "check",
    "in_container",
    "registry",
]


def registry() -> Mapping[str, Check]:
    """Every registered check by name."""
    return REGISTRY
