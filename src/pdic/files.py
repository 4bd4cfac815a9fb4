"""Files pdic writes on the control machine."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (``mode``): written beside it, then renamed over it, so a
    reader sees the old file or the new one, never half of one; nothing is left on failure."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> Path:
    """``path`` as a directory: made mode 0700 (only its owner may enter it) when it does not
    exist yet, whatever the umask; an existing directory keeps its mode."""
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        return path
    path.chmod(0o700)
    return path
