"""The inventory's Ansible Vault password file (``pdic_vault_password_file``), in one place.

``pdic deploy`` hands the file to ansible-playbook (``--vault-password-file``) and pdic's own
vault code (:mod:`pdic.secrets`, ``pdic mail initial-password``) reads the password from it;
both go through :func:`password_file`, so they accept and refuse the same files:

- the file must exist and be a regular file (a directory or a FIFO is refused);
- if it is executable it is a script, as for Ansible: pdic runs it without arguments (a
  ``*-client`` script gets ``--vault-id default``, as Ansible gives it) and its standard output,
  stripped, is the password; a script that fails or prints nothing is refused;
- a file that its group or others may read gets a one-line warning on stderr (once per file
  and process): whoever can read it can read every secret of the inventory.

It does not create, rotate or print passwords.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from pdic.errors import PdicError

KEY = "pdic_vault_password_file"
VAULT_ID = "default"
SCRIPT_TIMEOUT = 60
"""Seconds a password script may take (one that asks a secret store)."""

_warned: set[Path] = set()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def password_file(
    variables: Mapping[str, object],
    where: str,
    error: type[PdicError] = PdicError,
    warn: Callable[[str], None] = _stderr,
) -> Path | None:
    """The password file ``variables`` name (None when they name none).

    ``where`` says where the variable is set (``inventory/lab/group_vars/all``); ``error`` is
    the domain error to raise (DeployError, SecretsError, ...).
    """
    name = variables.get(KEY)
    if not name:
        return None
    path = Path(str(name)).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        hint = " (pdic lab up creates the lab's)" if "pdic-lab" in str(path) else ""
        raise error(f"{where}: {KEY}: {path} does not exist{hint}") from None
    except (OSError, ValueError) as exc:
        raise error(f"{where}: {KEY}: {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(mode):
        raise error(f"{where}: {KEY}: {path} is not a regular file")
    if mode & (stat.S_IRGRP | stat.S_IROTH) and path not in _warned:
        _warned.add(path)
        warn(
            f"pdic: warning: {path}: the vault password file is readable by its group or others "
            f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"
        )
    return path


def is_script(path: Path) -> bool:
    """Whether Ansible runs ``path`` rather than reading it: any execute bit set."""
    return bool(path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))


def read_password(path: Path, error: type[PdicError] = PdicError) -> bytes:
    """The vault password in ``path``: its content, or a script's output, stripped."""
    if is_script(path):
        argv = [str(path)]
        if os.path.splitext(path.name)[0].endswith("-client"):
            argv += ["--vault-id", VAULT_ID]
        try:
            done = subprocess.run(argv, capture_output=True, check=False, timeout=SCRIPT_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as exc:
            raise error(f"{path}: the vault password script cannot be run: {exc}") from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            why = f": {lines[-1]}" if lines else ""
            raise error(
                f"{path}: the vault password script exited with code {done.returncode}{why}"
            )
        password = done.stdout.strip()
        if not password:
            raise error(f"{path}: the vault password script printed no password")
        return password
    try:
        password = path.read_bytes().strip()
    except OSError as exc:
        raise error(f"{path}: cannot read the vault password: {exc.strerror}") from None
    if not password:
        raise error(f"{path}: the vault password file is empty")
    return password
