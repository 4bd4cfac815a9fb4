"""What the collectors share when they read files: the error, path globs, a parse cache.

:class:`ExporterError` is what a collector raises when a source cannot be read; the scrape fails
with it, so Prometheus' ``up`` turns 0 instead of the exporter reporting a silent zero.

:func:`expand_paths` turns configured paths into files: a literal path is kept as it is (and
must exist when it is read), a glob (``*``, ``?``, ``[``) stands for the files it matches now,
possibly none (a match that is gone by the time it is read is skipped).
:class:`ParsedFiles` re-reads and re-parses a file only when its identity
``(st_mtime_ns, st_size, st_ino)`` changes, so a scrape over thousands of certificates costs one
``stat`` per file; a file replaced by rename (new inode) or rewritten (new mtime) is parsed again.

It does not watch files, read anything ahead of a scrape, or keep values that depend on the time:
only what was parsed out of the file's bytes is cached.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable, Iterable
from typing import Generic, Literal, TypeVar, overload

from pdic.errors import PdicError

T = TypeVar("T")

_GLOB_CHARS = frozenset("*?[")


class ExporterError(PdicError):
    """A collector's source cannot be read or makes no sense; the scrape fails with it."""


def expand_paths(patterns: Iterable[str]) -> dict[str, bool]:
    """Each file once, in order, mapped to whether it must exist when it is read.

    A literal path must (True); a glob's matches need not (False): a file that goes away
    between the listing and the read is simply no longer there.
    """
    found: dict[str, bool] = {}
    for pattern in patterns:
        if _GLOB_CHARS.intersection(pattern):
            for path in sorted(glob.glob(pattern)):
                found.setdefault(path, False)
        else:
            found[pattern] = True
    return found


class ParsedFiles(Generic[T]):
    """``parse(bytes)`` of files, cached per path until the file's identity changes.

    ``parse`` raises ``ValueError`` (or a subclass) on bad content; :meth:`get` turns that and
    any ``OSError`` into an :class:`ExporterError` naming the path. Safe for concurrent scrapes.
    """

    def __init__(self, parse: Callable[[bytes], T]) -> None:
        self._parse = parse
        self._entries: dict[str, tuple[tuple[int, int, int], T]] = {}
        self._lock = threading.Lock()

    @overload
    def get(self, path: str, missing_ok: Literal[False] = False) -> T: ...
    @overload
    def get(self, path: str, missing_ok: bool) -> T | None: ...

    def get(self, path: str, missing_ok: bool = False) -> T | None:
        """The parsed file; None for a file that does not exist when ``missing_ok``."""
        try:
            st = os.stat(path)
            entry = self._entries.get(path)
            if entry is not None and entry[0] == (st.st_mtime_ns, st.st_size, st.st_ino):
                return entry[1]
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError as exc:
            if missing_ok:
                return None
            raise ExporterError(f"{path}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise ExporterError(f"{path}: {exc.strerror or exc}") from exc
        try:
            value = self._parse(data)
        except ValueError as exc:
            raise ExporterError(f"{path}: {exc}") from exc
        with self._lock:
            self._entries[path] = ((st.st_mtime_ns, st.st_size, st.st_ino), value)
        return value

    def retain(self, paths: Iterable[str]) -> None:
        """Forget every file not in ``paths`` (those gone or no longer configured)."""
        keep = set(paths)
        with self._lock:
            self._entries = {p: e for p, e in self._entries.items() if p in keep}
