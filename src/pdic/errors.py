"""Domain errors of pdic.

Each is turned into one clear line on stderr and exit code 2 by the CLI, in one place
(:func:`pdic.exits.run`, which :func:`pdic.cli.main` calls); :class:`HostUnreachable` is one
line too, with exit code 1. Nothing here prints or exits by itself.
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


class HostUnreachable(Exception):
    """A host could not be reached, refused the login or broke the connection.

    Not bad input and not a :class:`PdicError`: the CLI prints it as one line naming the host
    (``HOST: what happened``) with exit code 1, as for a check that fails on a host.
    """


class AgencyError(PdicError):
    """An agency command got bad input: an unknown agency, a bad option, a bad agency file."""
