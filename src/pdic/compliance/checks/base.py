"""The checks registry: named, read-only probes of one host and what they found.

A check is a plain function ``fn(host, **params) -> CheckOutcome`` registered under a stable
name with :func:`check`. ``host`` is a pytest-testinfra ``Host`` (anything with
``run(command, *args)`` returning ``rc``/``stdout``/``stderr`` will do, which is how the unit
tests feed recorded outputs). Keyword parameters carry the thresholds; their defaults are pdic's
and a control may override them in the catalogue (``params:``), so an auditor changes a figure
in YAML, not in code; a parameter may also come from the host's inventory variables.

A check only reads: every command it runs goes through :class:`Probe`, which quotes the
arguments (``probe.run("stat -c %%a -- %s", path)``) and keeps each command with an excerpt of
what it returned as evidence. It does not decide whether a control applies to a host (the
catalogue's ``groups`` and ``container`` fields do that) and it never installs anything.
"""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Status = Literal["pass", "fail", "not_applicable", "error"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "not_applicable", "error")

EXCERPT_LINES = 40
"""Evidence keeps at most this many lines of a command's output ..."""
EXCERPT_CHARS = 4000
"""... and at most this many characters."""

CHECK_NAME = re.compile(r"[a-z][a-z0-9_]*")


class CommandResult(Protocol):
    """What ``host.run`` returns (testinfra's ``CommandResult``)."""

    @property
    def rc(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


class HostLike(Protocol):
    """The part of testinfra's ``Host`` a check uses."""

    def run(self, command: str, *args: str) -> CommandResult: ...


@dataclass(frozen=True)
class Evidence:
    """One command a check ran, its exit status and an excerpt of what it printed."""

    command: str
    exit_status: int
    output: str

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "exit_status": self.exit_status, "output": self.output}


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one check on one host."""

    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()


def excerpt(text: str) -> str:
    """The first EXCERPT_LINES lines / EXCERPT_CHARS characters of ``text``, marked if cut."""
    lines = text.rstrip("\n").splitlines()
    cut = lines[:EXCERPT_LINES]
    out = "\n".join(cut)
    if len(out) > EXCERPT_CHARS:
        out = out[:EXCERPT_CHARS]
    if len(cut) < len(lines) or len(out) < len("\n".join(cut)):
        out += f"\n[... {len(lines)} lines in all, cut]"
    return out


def render(command: str, *args: object) -> str:
    """The command line testinfra runs for ``host.run(command, *args)``."""
    if not args:
        return command
    return command % tuple(shlex.quote(str(a)) for a in args)


class Probe:
    """Runs read-only commands on one host and keeps what each returned as evidence."""

    def __init__(self, host: HostLike) -> None:
        self.host = host
        self.evidence: list[Evidence] = []

    def run(self, command: str, *args: object) -> CommandResult:
        result = self.host.run(command, *(str(a) for a in args))
        output = result.stdout
        if result.stderr.strip():
            output = f"{output.rstrip()}\n[stderr] {result.stderr.strip()}".lstrip("\n")
        self.evidence.append(Evidence(render(command, *args), result.rc, excerpt(output)))
        return result

    def outcome(self, status: Status, message: str) -> CheckOutcome:
        return CheckOutcome(status, message, tuple(self.evidence))

    def passed(self, message: str) -> CheckOutcome:
        return self.outcome("pass", message)

    def failed(self, message: str) -> CheckOutcome:
        return self.outcome("fail", message)

    def not_applicable(self, message: str) -> CheckOutcome:
        return self.outcome("not_applicable", message)

    def error(self, message: str) -> CheckOutcome:
        return self.outcome("error", message)

    def verdict(self, problems: list[str], ok: str) -> CheckOutcome:
        """``fail`` naming every problem, or ``pass`` with ``ok``."""
        return self.failed("; ".join(problems)) if problems else self.passed(ok)


CheckFn = Callable[..., CheckOutcome]


@dataclass(frozen=True)
class Check:
    """A registered check: its name, function, and the parameters it accepts."""

    name: str
    fn: CheckFn
    params: Mapping[str, Any]
    doc: str

    def __call__(self, host: HostLike, **params: Any) -> CheckOutcome:
        return self.fn(host, **params)


REGISTRY: dict[str, Check] = {}


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn(host, *, param=default, ...)`` as the check called ``name``."""
    if not CHECK_NAME.fullmatch(name):
        raise ValueError(f"check name {name!r} must match {CHECK_NAME.pattern}")

    def register(fn: CheckFn) -> CheckFn:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        signature = inspect.signature(fn)
        params = {
            p.name: p.default
            for p in list(signature.parameters.values())[1:]
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        doc = inspect.getdoc(fn) or ""
        REGISTRY[name] = Check(name, fn, params, doc.splitlines()[0] if doc else "")
        return fn

    return register


def stale_paths(probe: Probe, paths: Sequence[str], max_age_hours: int, what: str) -> list[str]:
    """A problem line for each path under which no file was ``what`` within the hours given."""
    problems = []
    for path in paths:
        result = probe.run("find %s -type f -mmin -%s -print -quit", path, max_age_hours * 60)
        if result.rc != 0:
            problems.append(f"{path}: cannot be searched")
        elif not result.stdout.strip():
            problems.append(f"{path}: nothing {what} in the last {max_age_hours} h")
    return problems


def sysctl_check(host: HostLike, expected: Mapping[str, str]) -> CheckOutcome:
    """Each sysctl in ``expected`` has its value; a key the kernel lacks (no IPv6) is skipped."""
    probe = Probe(host)
    keys = sorted(expected)
    result = probe.run("sysctl " + " ".join(["%s"] * len(keys)), *keys)
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = value.strip()
    if not found:
        return probe.error("sysctl printed no value")
    problems = [
        f"{key} = {found[key]}, must be {want}"
        for key, want in expected.items()
        if key in found and found[key] != str(want)
    ]
    return probe.verdict(problems, ", ".join(f"{k} = {found[k]}" for k in keys if k in found))


DPKG_STATUS = "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' "


def installed_packages(probe: Probe, packages: Collection[str]) -> set[str]:
    """Which of ``packages`` dpkg has installed (one dpkg-query for all of them)."""
    result = probe.run(DPKG_STATUS + " ".join(["%s"] * len(packages)), *packages)
    return {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}


def unit_running(probe: Probe, unit: str) -> list[str]:
    """A problem line for each of enabled and active that ``unit`` is not."""
    problems = []
    for verb, wanted in (("is-enabled", "enabled"), ("is-active", "active")):
        state = probe.run(f"systemctl {verb} %s", unit).stdout.strip() or "unknown"
        if state != wanted:
            problems.append(f"{unit} is {state}")
    return problems


def textfile_samples(text: str) -> dict[str, float]:
    """The samples of a node_exporter textfile, by name with labels (comments skipped)."""
    samples = {}
    for line in text.splitlines():
        name, _, value = line.strip().rpartition(" ")
        if name and not name.startswith("#"):
            try:
                samples[name] = float(value)
            except ValueError:
                continue
    return samples


AGE_UNITS = {"h": 3600, "min": 60}


def recent_result(
    probe: Probe,
    units: Sequence[str],
    textfile: str,
    timestamp: str,
    max_age: int,
    what: str,
    unit: str = "h",
) -> tuple[dict[str, float], list[str]] | None:
    """A result a role's timer publishes for node_exporter's textfile collector: its samples
    (none if the file cannot be read) and a problem line for each of ``units`` not enabled and
    active, for a missing result, and for one whose ``timestamp`` sample is more than
    ``max_age`` ``unit`` (h or min) old by the host's clock. None if that clock cannot be
    read."""
    problems = [line for name in units for line in unit_running(probe, name)]
    result = probe.run("cat -- %s", textfile)
    samples = textfile_samples(result.stdout) if result.rc == 0 else {}
    now = as_int(probe.run("date +%s").stdout.strip())
    last = samples.get(timestamp)
    if last is None:
        problems.append(f"no {what} result in {textfile}")
    elif now is None:
        return None
    else:
        age = (now - last) / AGE_UNITS[unit]
        if age > max_age:
            problems.append(f"last {what} {age:.0f} {unit} ago, more than {max_age} {unit}")
    return samples, problems


def in_container(probe: Probe) -> str | None:
    """The container technology the host runs in (``systemd-nspawn``, ...), or None."""
    result = probe.run("systemd-detect-virt --container")
    name = result.stdout.strip()
    return name if result.rc == 0 and name and name != "none" else None


def pam_lines(probe: Probe, stack: str, module: str) -> list[str]:
    """Active lines of ``/etc/pam.d/<stack>`` that call ``module`` (e.g. pam_pwquality.so)."""
    pattern = rf"^[[:space:]]*[a-z]+[[:space:]].*{re.escape(module)}"
    result = probe.run("grep -Es %s %s", pattern, f"/etc/pam.d/{stack}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def mode_problems(
    probe: Probe, path: str, limit: int, owners: Sequence[str], groups: Sequence[str]
) -> tuple[list[str], str]:
    """What is wrong with ``path``'s mode (no permission beyond ``limit``) and owner:group
    (one of ``owners``:``groups``), and how it is (``/etc/shadow 0640 root:shadow``)."""
    result = probe.run("stat -L -c '%%a %%U %%G' -- %s", path)
    if result.rc != 0:
        return [f"{path} does not exist or cannot be read"], f"{path} missing"
    mode_text, owner, group = result.stdout.split()
    mode = int(mode_text, 8)
    problems = []
    if mode & ~limit & 0o7777:
        problems.append(f"{path} has mode {mode:04o}, must be at most {limit:04o}")
    if owner not in owners:
        problems.append(f"{path} is owned by {owner}, must be {'/'.join(owners)}")
    if group not in groups:
        problems.append(f"{path} has group {group}, must be {'/'.join(groups)}")
    return problems, f"{path} {mode:04o} {owner}:{group}"


# small parsers shared by the checks


def key_values(text: str, sep: str = "=") -> dict[str, str]:
    """``key = value`` lines (comments and blank lines skipped); a later key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if sep in line:
            key, value = line.split(sep, 1)
            out[key.strip()] = value.strip()
    return out


def limits_entries(text: str) -> list[tuple[str, str, str, str]]:
    """``domain type item value`` lines of limits.conf files, in order, comments skipped."""
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 4:
            out.append((words[0], words[1], words[2], words[3]))
    return out


def words_config(text: str) -> dict[str, str]:
    """``KEY value`` lines such as login.defs; the first value of a key wins (as there)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split(None, 1)
        if len(parts) == 2:
            out.setdefault(parts[0], parts[1].strip())
    return out


def as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
