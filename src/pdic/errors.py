"""Domain errors of pdic.

Each is turned into one clear line on stderr and exit code 2 by the CLI, in one place
(:func:`pdic.cli.main`). Nothing here prints or exits by itself.
"""

from __future__ import annotations


class PdicError(Exception):
    """Base of every error pdic reports to its user as one line."""


class InventoryError(PdicError):
    """The inventory cannot be read or does not pass validation.

    ``problems`` holds one line per problem (``file: key.path: what is wrong``).
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class LabError(PdicError):
    """The lab cannot be built, started, stopped or reached."""


class BootstrapError(PdicError):
    """Bootstrap of bare hosts failed."""


class DeployError(PdicError):
    """A deploy could not be started (bad arguments, missing files)."""


class CertError(PdicError):
    """A certificate command got bad input or the CA refused the request."""
