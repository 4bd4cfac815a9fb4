"""Checks of command-line values that need neither an inventory nor a host.

Each takes the option's name and the value as typed and returns it in the form the command
uses, or raises :class:`ArgumentError` naming the option, the value and what is wrong, so that a
command refuses bad input before it reads an inventory, reaches a host or writes a file.

- :func:`output_dir`: a directory pdic writes into (``--out``): not empty, one line, not a file
  and not under one, writable; it may not exist yet.
- :func:`output_file`: a file pdic writes (``--metrics-file``): not a directory, in a directory
  that exists and is writable; the file may not exist yet.
- :func:`input_file`: a file pdic reads (``--waivers``): a regular readable file, so that a
  directory, a FIFO or a device is refused instead of read (a FIFO would block forever).
- :func:`words`, :func:`choices`: a comma-separated list (``--tags``, ``--format``) that names at
  least one item (each one of the allowed ones).

It does not create directories or open files for good: the commands do, once every value is
known to be right.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from pdic.errors import PdicError


class ArgumentError(PdicError):
    """A command-line value is unusable (exit code 2, before anything is read or changed)."""


SHOWN = 80
"""A value longer than this is shown with its middle cut out."""


def shown(value: str) -> str:
    """``value`` quoted for a message: control characters escaped, a long one shortened."""
    if len(value) <= SHOWN:
        return repr(value)
    half = SHOWN // 2
    return f"{value[:half]!r}...{value[-half:]!r} ({len(value)} characters)"


def one_line(option: str, value: str) -> str:
    """``value`` unless it is empty or holds a control character (a newline, a NUL byte...)."""
    if not value.strip():
        raise ArgumentError(f"{option}: {shown(value)} is empty")
    if not value.isprintable():
        raise ArgumentError(f"{option}: {shown(value)} holds a control character")
    return value


def output_dir(option: str, value: str | Path) -> Path:
    """The directory ``value`` names, if pdic may write into it (it may not exist yet)."""
    text = one_line(option, str(value))
    path = Path(text)
    for place in (path, *path.parents):
        try:
            mode = place.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # made later, unless a place above it is not a directory
        except OSError as exc:
            raise ArgumentError(f"{option}: {shown(text)}: {exc.strerror}") from None
        if not stat.S_ISDIR(mode):
            what = "a file" if stat.S_ISREG(mode) else "not a directory"
            if place != path:
                raise ArgumentError(f"{option}: {shown(text)} cannot be made: {place} is {what}")
            if stat.S_ISREG(mode):
                raise ArgumentError(f"{option}: {shown(text)} is a file, not a directory")
            raise ArgumentError(f"{option}: {shown(text)} is not a directory")
        if not os.access(place, os.W_OK | os.X_OK):
            raise ArgumentError(f"{option}: {shown(text)}: {place} is not writable")
        break
    return path


def output_file(option: str, value: str | Path) -> Path:
    """The file ``value`` names, if pdic may write it: an existing one must be a regular file,
    and its directory must exist (pdic makes no directory for a single file) and be writable."""
    text = one_line(option, str(value))
    path = Path(text)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        raise ArgumentError(f"{option}: {shown(text)}: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ArgumentError(f"{option}: {shown(text)} is a directory, not a file")
    if mode is not None and not stat.S_ISREG(mode):
        raise ArgumentError(f"{option}: {shown(text)} is not a regular file")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ArgumentError(f"{option}: {shown(text)}: its directory {parent} {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArgumentError(f"{option}: {shown(text)}: {parent} is not writable")
    return path


def input_file(option: str, value: str | Path) -> Path:
    """The regular, readable file ``value`` names."""
    text = one_line(option, str(value))
    path = Path(text)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        kind = "is a link that leads nowhere" if path.is_symlink() else "does not exist"
        raise ArgumentError(f"{option}: {shown(text)} {kind}") from None
    except OSError as exc:
        raise ArgumentError(f"{option}: {shown(text)}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ArgumentError(f"{option}: {shown(text)} is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise ArgumentError(f"{option}: {shown(text)} is not a regular file")
    if not os.access(path, os.R_OK):
        raise ArgumentError(f"{option}: {shown(text)} is not readable")
    return path


def words(option: str, value: str) -> list[str]:
    """The items of a comma-separated ``value``; at least one, each on one line."""
    items = [w.strip() for w in one_line(option, value).split(",") if w.strip()]
    if not items:
        raise ArgumentError(f"{option}: {shown(value)} names nothing")
    return items


def choices(option: str, value: str, allowed: Sequence[str]) -> list[str]:
    """The items of a comma-separated ``value``, each one of ``allowed``."""
    items = words(option, value)
    unknown = [w for w in items if w not in allowed]
    if unknown:
        raise ArgumentError(
            f"{option}: {', '.join(shown(w) for w in unknown)}: not one of {', '.join(allowed)}"
        )
    return items
