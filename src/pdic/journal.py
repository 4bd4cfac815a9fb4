"""The change journal: one record for every pdic command that changes hosts.

Who ran it (the login, and ``SUDO_USER`` behind sudo), on which control machine, when and for
how long, the command line, the inventory and its git commit (and whether its tree had changes
not committed), the hosts, each host's outcome and the exit code. TCVN 11930 asks that
administrative actions be accountable; operators changing a live centre are exactly that.

A record is appended to the controller's journal (JSON Lines, mode 0600: ``PDIC_JOURNAL``, else
``/var/log/pdic/journal.jsonl`` as root and ``~/.local/state/pdic/journal.jsonl`` otherwise)
and sent at once over TCP syslog (RFC 5424, facility authpriv) to the centre's log host, the
inventory's ``hardening_log_server``: a record there is out of reach of whoever ran the command,
so a change cannot be made quietly. A log host that cannot be reached leaves the record in the
local journal marked ``sent: false`` and costs one warning line; the command's own result is
never changed by its journal.

:func:`journaled` wraps a command; :func:`read` and :func:`select` serve ``pdic journal``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pdic.errors import PdicError
from pdic.inventory import Inventory

SYSLOG_PORT = 514
SYSLOG_TIMEOUT = 5.0
PRI = 10 * 8 + 5  # authpriv.notice
APP_NAME = "pdic"
MSG_ID = "journal"
DURATION = re.compile(r"([0-9]{1,6})([smhdw])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

command_line: list[str] | None = None
"""The arguments pdic's entry point was given (set by :func:`pdic.cli.main`)."""


class JournalError(PdicError):
    """The journal cannot be read, or a filter makes no sense."""


@dataclass
class Record:
    """One command that changed (or tried to change) hosts."""

    command: str
    argv: list[str]
    inventory: str
    started: str
    user: str
    sudo_user: str | None
    controller: str
    git_commit: str | None
    git_dirty: bool | None
    hosts: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    error: str | None = None
    duration_s: float = 0.0
    sent: bool | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line: when, who, what, where, how it ended."""
        who = self.user + (f" (sudo from {self.sudo_user})" if self.sudo_user else "")
        where = self.inventory
        if self.git_commit:
            where += f"@{self.git_commit[:10]}" + ("+dirty" if self.git_dirty else "")
        tally: dict[str, int] = {}
        for outcome in self.outcomes.values():
            tally[outcome] = tally.get(outcome, 0) + 1
        hosts = f"{len(self.hosts)} host{'s' if len(self.hosts) != 1 else ''}"
        if tally:
            hosts += ": " + ", ".join(f"{n} {o}" for o, n in sorted(tally.items()))
        ended = f"exit {self.exit_code}" + (f" ({self.error})" if self.error else "")
        return (
            f"{self.started[:19].replace('T', ' ')}  {who}  {self.command}  {where}  {hosts}  "
            f"{ended}  {self.duration_s:.0f} s  {shlex.join(self.argv)}"
        )


def journal_path() -> Path:
    """Where the controller's journal is (``PDIC_JOURNAL`` overrides)."""
    env = os.environ.get("PDIC_JOURNAL")
    if env:
        return Path(env).expanduser()
    if os.geteuid() == 0:
        return Path("/var/log/pdic/journal.jsonl")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pdic" / "journal.jsonl"


def login() -> str:
    try:
        return os.getlogin()
    except OSError:
        return getpass.getuser()


def git_state(path: Path) -> tuple[str | None, bool | None]:
    """The commit of the repository that holds ``path`` and whether ``path`` has changes not
    committed (None, None outside a repository)."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=False, timeout=10
        )

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None, None
        status = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


def log_host(inventory: Inventory) -> tuple[str, int] | None:
    """The centre's log host (address, port) from the inventory, None if it names none."""
    name = str(inventory.vars.get("hardening_log_server") or "").strip()
    if not name:
        return None
    port = inventory.vars.get("hardening_log_server_port", SYSLOG_PORT)
    host = inventory.hosts.get(name)
    return (host.address if host is not None else name), int(port)


def syslog_line(record: Record, now: dt.datetime | None = None) -> bytes:
    """The record as one RFC 5424 message (the JSON record as its text), newline-framed."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
    body = json.dumps(record.as_dict(), ensure_ascii=False, separators=(",", ":"))
    host = record.controller or "-"
    return f"<{PRI}>1 {stamp} {host} {APP_NAME} {os.getpid()} {MSG_ID} - {body}\n".encode()


def send(record: Record, address: tuple[str, int], timeout: float = SYSLOG_TIMEOUT) -> None:
    """Deliver the record to the log host over TCP syslog; OSError when it cannot."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(syslog_line(record))
        sock.shutdown(socket.SHUT_WR)


def append(record: Record, path: Path | None = None) -> Path:
    """Append the record to the controller's journal (created 0600 in a 0700 directory)."""
    path = path or journal_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(record.as_dict(), ensure_ascii=False) + "\n")
    return path


def _exit_code(exc: BaseException) -> int:
    code = getattr(exc, "exit_code", None)  # the CLI library's Exit
    if code is None and isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else 1
    if code is not None:
        return int(code)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 2 if isinstance(exc, PdicError) else 1


@contextlib.contextmanager
def journaled(
    command: str,
    inventory: Inventory,
    hosts: Iterable[str] = (),
    *,
    argv: list[str] | None = None,
    warn: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Record]:
    """Journal the command run in the block; it fills ``record.outcomes`` (and may narrow
    ``record.hosts``). Whatever the block raises is recorded, then raised again."""
    user = login()
    commit, dirty = git_state(inventory.path)
    record = Record(
        command=command,
        argv=["pdic", *(argv if argv is not None else command_line or sys.argv[1:])],
        inventory=str(inventory.path),
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        user=user,
        sudo_user=os.environ.get("SUDO_USER") or None,
        controller=socket.gethostname(),
        git_commit=commit,
        git_dirty=dirty,
        hosts=list(hosts),
    )
    began = clock()
    try:
        yield record
        record.exit_code = 0
    except BaseException as exc:
        record.exit_code = _exit_code(exc)
        if not hasattr(exc, "exit_code") and not isinstance(exc, SystemExit):
            text = str(exc).strip().splitlines()
            record.error = (text[0] if text else type(exc).__name__)[:300]
        raise
    finally:
        record.duration_s = round(clock() - began, 3)
        _keep(record, inventory, warn or (lambda line: print(line, file=sys.stderr)))


def _keep(record: Record, inventory: Inventory, warn: Callable[[str], None]) -> None:
    address = log_host(inventory)
    if address is not None:
        try:
            send(record, address)
            record.sent = True
        except OSError as exc:
            record.sent = False
            warn(
                f"pdic: warning: journal: the log host {address[0]}:{address[1]} did not take "
                f"this record ({exc}); it is kept in {journal_path()}"
            )
    try:
        append(record)
    except OSError as exc:
        warn(f"pdic: warning: journal: cannot append to {journal_path()}: {exc}")


def read(path: Path | None = None) -> list[Record]:
    """Every record of the controller's journal, oldest first (a damaged line is an error)."""
    path = path or journal_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise JournalError(f"{path}: cannot read the journal: {exc.strerror}") from None
    out = []
    names = set(Record.__dataclass_fields__)
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            out.append(Record(**{k: v for k, v in data.items() if k in names}))
        except (ValueError, TypeError) as exc:
            raise JournalError(f"{path}: line {n}: not a journal record ({exc})") from None
    return out


def parse_since(text: str) -> dt.timedelta:
    """``7d``, ``12h``, ``30m``, ``2w``: how far back ``pdic journal --since`` looks."""
    match = DURATION.fullmatch(text)
    if not match:
        raise JournalError(f"--since: {text!r} is not a duration like 7d, 12h, 30m or 2w")
    return dt.timedelta(seconds=int(match[1]) * UNIT_SECONDS[match[2]])


def check_host(name: str) -> None:
    """``pdic journal --host``: a host name as inventories spell them."""
    from pdic.inventory.values import host_label

    if host_label(name) is not None:
        raise JournalError(f"--host: {name!r} is not a host name")


def select(
    records: Iterable[Record],
    *,
    since: dt.timedelta | None = None,
    host: str | None = None,
    now: dt.datetime | None = None,
) -> list[Record]:
    """The records newer than ``since`` that touched ``host`` (either filter optional)."""
    now = now or dt.datetime.now(dt.UTC)
    out = []
    for record in records:
        if since is not None:
            try:
                started = dt.datetime.fromisoformat(record.started)
            except ValueError:
                continue
            if started < now - since:
                continue
        if host is not None and host not in record.hosts and host not in record.outcomes:
            continue
        out.append(record)
    return out


def outcomes_from(rows: Iterable[tuple[str, bool, bool]]) -> Mapping[str, str]:
    """``{host: ok|changed|failed}`` from (host, success, changed) rows."""
    return {
        name: ("changed" if changed else "ok") if success else "failed"
        for name, success, changed in rows
    }
