"""The control catalogue, its frameworks and waivers: loaded from YAML and validated.

Layout of the catalogue directory (``compliance/`` in the repository)::

    controls/<area>.yml      controls: [ {id, title, rationale, severity, groups, mappings, ...} ]
    frameworks/<name>.yml    key, title, and either clauses: [{id, ...}] or id_pattern
    waivers.example.yml      waivers: [ {control, hosts, justification, approver, expires} ]
    lynis.yml                out_of_reach: [ {ids, reason} ], checked_by: [ {id, controls} ]

A framework is data: a new one (Decree 331/2026, TCVN 14423:2026) is one more file and one
more key under each control's ``mappings``, never code. A check parameter is a value, a list
per inventory group (``{by_group: ...}``) or a host's inventory variable
(``{inventory: name}``, e.g. the addresses a role lets root in from). Every problem is one line
``file: key.path: what is wrong``; all of them are collected before :class:`ComplianceError`
is raised. This module does not run checks or touch hosts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pdic.compliance.checks import registry
from pdic.errors import PdicError
from pdic.inventory.loader import render_path
from pdic.inventory.model import KNOWN_GROUPS

SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_WEIGHTS = {"critical": 10, "high": 5, "medium": 3, "low": 1}
"""Weight of a control in the score, by severity (see :mod:`pdic.compliance.report`)."""

ALL = "all"
INVENTORY = "inventory"
"""A parameter written ``{inventory: variable}`` takes the host's inventory value."""
CONTROL_ID = re.compile(r"PDIC-[A-Z]+-[0-9]{3}")
VARIABLE = re.compile(r"[a-z][a-z0-9_]*")
CONTROL_KEYS = {
    "id": True,
    "title": True,
    "rationale": True,
    "severity": True,
    "groups": True,
    "mappings": True,
    "inferred_mappings": True,
    "checks": True,
    "enforced_by": True,
    "container": True,
    "params": False,
    "threshold_source": False,
}
WAIVER_KEYS = ("control", "hosts", "justification", "approver", "expires")
LYNIS_NOTES = "lynis.yml"
"""What pdic knows of Lynis's tests, beside the controls (:func:`load_lynis_notes`)."""
LYNIS_TEST_ID = re.compile(r"[A-Z]{3,4}-[0-9]{4}")

KeyPath = tuple[str | int, ...]


class ComplianceError(PdicError):
    """The catalogue, a framework or a waiver file is unreadable or invalid.

    ``problems`` holds one line per problem (``file: key.path: what is wrong``).
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Text:
    """A text in Vietnamese and English."""

    vi: str
    en: str


@dataclass(frozen=True)
class Clause:
    id: str
    title: Text | None = None
    inferred: bool = False


@dataclass(frozen=True)
class Framework:
    """A set of requirements controls map to: a clause list, or just an id pattern."""

    key: str
    title: Text
    clauses: Mapping[str, Clause] = field(default_factory=dict)
    id_pattern: str | None = None

    def problem(self, clause: str) -> str | None:
        """Why ``clause`` is not an id of this framework, or None if it is."""
        if self.clauses:
            return None if clause in self.clauses else f"{clause!r} is not a clause of {self.key}"
        if self.id_pattern and not re.fullmatch(self.id_pattern, clause):
            return f"{clause!r} does not look like a {self.key} id ({self.id_pattern})"
        return None


@dataclass(frozen=True)
class Container:
    """Whether a control can apply inside a container, and why not."""

    applicable: bool
    reason: str = ""


@dataclass(frozen=True)
class Control:
    id: str
    area: str
    title: Text
    rationale: Text
    severity: str
    groups: tuple[str, ...]
    mappings: Mapping[str, tuple[str, ...]]
    inferred_mappings: tuple[str, ...]
    checks: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]]
    enforced_by: str | None
    container: Container
    threshold_source: str | None = None

    @property
    def weight(self) -> int:
        return SEVERITY_WEIGHTS[self.severity]

    def applies_to(self, host_groups: Iterable[str]) -> bool:
        return ALL in self.groups or bool(set(self.groups) & set(host_groups))

    def check_params(
        self,
        check: str,
        host_groups: Iterable[str],
        host_vars: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The parameters for ``check`` on a host of ``host_groups`` with ``host_vars``.

        A value written ``{by_group: {all: [...], portal: [...]}}`` becomes the concatenation
        of the lists of ``all`` and of each of the host's groups, in catalogue order. A value
        written ``{inventory: variable}`` is the host's inventory value of that variable, as
        written there (not templated); a host without it gets the check's own default.
        """
        groups = {ALL, *host_groups}
        out: dict[str, Any] = {}
        for name, value in self.params.get(check, {}).items():
            if isinstance(value, Mapping) and set(value) == {"by_group"}:
                merged: list[Any] = []
                for group, items in value["by_group"].items():
                    if group in groups:
                        merged.extend(i for i in items if i not in merged)
                out[name] = merged
            elif isinstance(value, Mapping) and set(value) == {INVENTORY}:
                if host_vars is not None and value[INVENTORY] in host_vars:
                    out[name] = host_vars[value[INVENTORY]]
            else:
                out[name] = value
        return out


@dataclass(frozen=True)
class Catalogue:
    controls: Mapping[str, Control]
    frameworks: Mapping[str, Framework]

    def __len__(self) -> int:
        return len(self.controls)

    def by_area(self) -> dict[str, list[Control]]:
        out: dict[str, list[Control]] = {}
        for control in self.controls.values():
            out.setdefault(control.area, []).append(control)
        return out

    def for_host(self, host_groups: Iterable[str]) -> list[Control]:
        groups = list(host_groups)
        return [c for c in self.controls.values() if c.applies_to(groups)]


class _Problems:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines: list[str] = []

    def add(self, rel: str, path: KeyPath, what: str) -> None:
        self.lines.append(f"{rel}: {render_path(path)}: {what}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise ComplianceError(self.lines)


def _read(path: Path, rel: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ComplianceError(f"{rel}: (file): cannot read: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ComplianceError(f"{rel}: {where}: YAML syntax error: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ComplianceError(f"{rel}: (file): YAML syntax error: {exc}") from None


def _text(value: Any) -> Text | None:
    if isinstance(value, Mapping):
        vi, en = value.get("vi"), value.get("en")
        if isinstance(vi, str) and vi.strip() and isinstance(en, str) and en.strip():
            return Text(vi.strip(), en.strip())
    return None


def _text_problem(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "must be a mapping with vi and en texts"
    missing = [k for k in ("vi", "en") if not isinstance(value.get(k), str) or not value[k].strip()]
    return f"missing {' and '.join(missing)} text"


def load_frameworks(directory: Path, rel_base: str = "frameworks") -> dict[str, Framework]:
    problems = _Problems(directory)
    frameworks: dict[str, Framework] = {}
    for path in sorted(directory.glob("*.yml")):
        rel = f"{rel_base}/{path.name}"
        data = _read(path, rel)
        if not isinstance(data, Mapping):
            problems.add(rel, (), "must be a mapping with key, title and clauses or id_pattern")
            continue
        key, title = data.get("key"), _text(data.get("title"))
        if not isinstance(key, str) or not VARIABLE.fullmatch(key):
            problems.add(rel, ("key",), "must be a lower-case identifier")
            continue
        if title is None:
            problems.add(rel, ("title",), _text_problem(data.get("title")))
        if key in frameworks:
            problems.add(rel, ("key",), f"framework {key!r} is defined twice")
        clauses: dict[str, Clause] = {}
        for i, item in enumerate(data.get("clauses") or []):
            cid = item.get("id") if isinstance(item, Mapping) else None
            if not isinstance(cid, str) or not cid:
                problems.add(rel, ("clauses", i, "id"), "must be a string")
                continue
            if cid in clauses:
                problems.add(rel, ("clauses", i, "id"), f"clause {cid!r} is listed twice")
            inferred = item.get("number") == "inferred" or item.get("content") == "inferred"
            clauses[cid] = Clause(cid, _text(item.get("title")), inferred)
        pattern = data.get("id_pattern")
        if not clauses and not isinstance(pattern, str):
            problems.add(rel, (), "needs clauses or id_pattern")
        frameworks[key] = Framework(
            key, title or Text(key, key), clauses, pattern if isinstance(pattern, str) else None
        )
    problems.raise_if_any()
    return frameworks


def load_catalogue(directory: Path | str) -> Catalogue:
    """Read ``controls/*.yml`` and ``frameworks/*.yml`` under ``directory`` and validate them."""
    root = Path(directory)
    if not (root / "controls").is_dir():
        raise ComplianceError(f"{root}: (file): no controls/ directory")
    frameworks = load_frameworks(root / "frameworks")
    checks = registry()
    problems = _Problems(root)
    controls: dict[str, Control] = {}
    seen: dict[str, str] = {}
    for path in sorted((root / "controls").glob("*.yml")):
        rel = f"controls/{path.name}"
        data = _read(path, rel)
        items = data.get("controls") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            problems.add(rel, ("controls",), "must be a list of controls")
            continue
        for i, item in enumerate(items):
            control = _control(item, path.stem, rel, ("controls", i), frameworks, checks, problems)
            if control is None:
                continue
            if control.id in seen:
                problems.add(
                    rel,
                    ("controls", i, "id"),
                    f"duplicate id {control.id} (also in {seen[control.id]})",
                )
                continue
            seen[control.id] = rel
            controls[control.id] = control
    problems.raise_if_any()
    return Catalogue(controls, frameworks)


def _control(
    item: Any,
    area: str,
    rel: str,
    at: KeyPath,
    frameworks: Mapping[str, Framework],
    checks: Mapping[str, Any],
    problems: _Problems,
) -> Control | None:
    if not isinstance(item, Mapping):
        problems.add(rel, at, "must be a mapping")
        return None
    before = len(problems.lines)
    for key in item:
        if key not in CONTROL_KEYS:
            problems.add(rel, (*at, str(key)), f"unknown key (known: {', '.join(CONTROL_KEYS)})")
    for key, required in CONTROL_KEYS.items():
        if required and key not in item:
            problems.add(rel, (*at, key), "is missing")
    if len(problems.lines) > before:
        return None
    cid = item["id"]
    if not isinstance(cid, str) or not CONTROL_ID.fullmatch(cid):
        problems.add(rel, (*at, "id"), f"{cid!r} must look like PDIC-AREA-001")
    title, rationale = _text(item["title"]), _text(item["rationale"])
    for key, value in (("title", title), ("rationale", rationale)):
        if value is None:
            problems.add(rel, (*at, key), _text_problem(item[key]))
    severity = item["severity"]
    if severity not in SEVERITIES:
        problems.add(
            rel, (*at, "severity"), f"unknown severity {severity!r} ({', '.join(SEVERITIES)})"
        )
    groups = item["groups"]
    known = (ALL, *KNOWN_GROUPS)
    if not isinstance(groups, list) or not groups:
        problems.add(rel, (*at, "groups"), "must be a non-empty list of inventory groups")
        groups = []
    for j, group in enumerate(groups):
        if group not in known:
            problems.add(rel, (*at, "groups", j), f"unknown group {group!r} ({', '.join(known)})")
    mappings, inferred = _mappings(item, rel, at, frameworks, problems)
    check_names = item["checks"]
    if not isinstance(check_names, list) or not check_names:
        problems.add(rel, (*at, "checks"), "must be a non-empty list of check names")
        check_names = []
    for j, name in enumerate(check_names):
        if name not in checks:
            problems.add(rel, (*at, "checks", j), f"unknown check {name!r}")
    params = _params(item.get("params") or {}, check_names, checks, rel, (*at, "params"), problems)
    enforced_by = item["enforced_by"]
    if enforced_by is not None and (
        not isinstance(enforced_by, str) or not VARIABLE.fullmatch(enforced_by)
    ):
        problems.add(rel, (*at, "enforced_by"), "must be a role variable name or null")
    container = _container(item["container"], rel, (*at, "container"), problems)
    threshold = item.get("threshold_source")
    if threshold is not None and not isinstance(threshold, str):
        problems.add(rel, (*at, "threshold_source"), "must be a text")
    if len(problems.lines) > before:
        return None
    assert title is not None and rationale is not None and container is not None
    return Control(
        id=cid,
        area=area,
        title=title,
        rationale=rationale,
        severity=severity,
        groups=tuple(groups),
        mappings=mappings,
        inferred_mappings=tuple(inferred),
        checks=tuple(check_names),
        params=params,
        enforced_by=enforced_by,
        container=container,
        threshold_source=threshold,
    )


def _mappings(
    item: Mapping[str, Any],
    rel: str,
    at: KeyPath,
    frameworks: Mapping[str, Framework],
    problems: _Problems,
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    raw = item["mappings"]
    mappings: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, Mapping):
        problems.add(rel, (*at, "mappings"), "must be a mapping of framework -> list of ids")
        return mappings, []
    for key in frameworks:
        if key not in raw:
            problems.add(rel, (*at, "mappings", key), "is missing (use [] when nothing maps)")
    derived: list[str] = []
    for key, ids in raw.items():
        framework = frameworks.get(key)
        if framework is None:
            problems.add(
                rel, (*at, "mappings", key), f"unknown framework (known: {', '.join(frameworks)})"
            )
            continue
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            problems.add(rel, (*at, "mappings", key), "must be a list of quoted ids")
            continue
        for j, clause in enumerate(ids):
            why = framework.problem(clause)
            if why:
                problems.add(rel, (*at, "mappings", key, j), why)
        if any(framework.clauses[c].inferred for c in ids if c in framework.clauses):
            derived.append(key)
        mappings[key] = tuple(ids)
    declared = item["inferred_mappings"]
    if not isinstance(declared, list) or sorted(declared) != sorted(derived):
        problems.add(
            rel,
            (*at, "inferred_mappings"),
            f"must be {sorted(derived)}: the frameworks where a mapped clause is marked inferred",
        )
    return mappings, derived


def _params(
    raw: Any,
    check_names: Sequence[str],
    checks: Mapping[str, Any],
    rel: str,
    at: KeyPath,
    problems: _Problems,
) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        problems.add(rel, at, "must be a mapping of check name -> parameters")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, values in raw.items():
        if name not in check_names:
            problems.add(rel, (*at, name), "is not one of this control's checks")
            continue
        if not isinstance(values, Mapping):
            problems.add(rel, (*at, name), "must be a mapping of parameter -> value")
            continue
        accepted = checks[name].params if name in checks else {}
        for param, value in values.items():
            if param not in accepted:
                problems.add(
                    rel,
                    (*at, name, param),
                    f"unknown parameter (accepted: {', '.join(accepted) or 'none'})",
                )
            if isinstance(value, Mapping) and "by_group" in value:
                for group in value["by_group"] or {}:
                    if group not in (ALL, *KNOWN_GROUPS):
                        problems.add(rel, (*at, name, param, "by_group", group), "unknown group")
            if isinstance(value, Mapping) and INVENTORY in value:
                variable = value[INVENTORY]
                if set(value) != {INVENTORY} or not (
                    isinstance(variable, str) and VARIABLE.fullmatch(variable)
                ):
                    problems.add(
                        rel,
                        (*at, name, param, INVENTORY),
                        "must be the only key, naming an inventory variable",
                    )
        out[name] = dict(values)
    return out


def _container(raw: Any, rel: str, at: KeyPath, problems: _Problems) -> Container | None:
    if raw == "applicable":
        return Container(True)
    if isinstance(raw, Mapping) and raw.get("status") == "not_applicable":
        reason = raw.get("reason")
        if isinstance(reason, str) and reason.strip():
            return Container(False, reason.strip())
        problems.add(rel, (*at, "reason"), "not_applicable needs a reason")
        return None
    problems.add(rel, at, "must be 'applicable' or {status: not_applicable, reason: ...}")
    return None


def uncovered_groups(catalogue: Catalogue, groups: Iterable[str]) -> list[str]:
    """Inventory groups no control names explicitly (``all`` alone does not cover a service)."""
    named = {g for control in catalogue.controls.values() for g in control.groups}
    return [g for g in groups if g != ALL and g not in named]


def check_group_coverage(catalogue: Catalogue, groups: Iterable[str]) -> None:
    """ComplianceError naming each inventory group that no control covers."""
    missing = uncovered_groups(catalogue, groups)
    if missing:
        raise ComplianceError(
            [f"inventory: groups.{g}: no control covers this group" for g in missing]
        )


def missing_enforcers(catalogue: Catalogue, roles_dir: Path | str) -> list[str]:
    """Controls whose ``enforced_by`` variable is in no role's defaults/main.yml (yet)."""
    defined: set[str] = set()
    for path in Path(roles_dir).glob("*/defaults/main.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(data, Mapping):
            defined.update(str(k) for k in data)
    return [
        f"{c.id}: enforced_by {c.enforced_by} is not defined by any role"
        for c in catalogue.controls.values()
        if c.enforced_by and c.enforced_by not in defined
    ]


# waivers


@dataclass(frozen=True)
class Waiver:
    control: str
    hosts: tuple[str, ...] | None  # None: every host
    justification: str
    approver: str
    expires: dt.date

    def covers(self, control: str, host: str) -> bool:
        return control == self.control and (self.hosts is None or host in self.hosts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "hosts": "all" if self.hosts is None else list(self.hosts),
            "justification": self.justification,
            "approver": self.approver,
            "expires": self.expires.isoformat(),
        }


@dataclass(frozen=True)
class Waivers:
    """Active waivers, expired ones (shown, never applied) and entries that are invalid."""

    active: tuple[Waiver, ...] = ()
    expired: tuple[Waiver, ...] = ()
    problems: tuple[str, ...] = ()

    def find(self, control: str, host: str) -> Waiver | None:
        return next((w for w in self.active if w.covers(control, host)), None)

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ComplianceError(list(self.problems))


def load_waivers(
    path: Path | str,
    catalogue: Catalogue,
    today: dt.date,
    known_hosts: Collection[str] | None = None,
) -> Waivers:
    """Read a waiver file; problems are collected (:meth:`Waivers.raise_for_problems` raises).

    A waiver that expired before ``today`` is returned in ``expired``; it hides nothing. With
    ``known_hosts`` (the inventory's host names), a waiver naming another host is a problem.
    """
    file = Path(path)
    rel = file.name
    data = _read(file, rel)
    items = data.get("waivers") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        return Waivers(problems=(f"{rel}: waivers: must be a list of waivers",))
    problems = _Problems(file.parent)
    active: list[Waiver] = []
    expired: list[Waiver] = []
    for i, item in enumerate(items):
        at: KeyPath = ("waivers", i)
        before = len(problems.lines)
        if not isinstance(item, Mapping):
            problems.add(rel, at, "must be a mapping")
            continue
        for key in item:
            if key not in WAIVER_KEYS:
                problems.add(rel, (*at, str(key)), f"unknown key (known: {', '.join(WAIVER_KEYS)})")
        for key in WAIVER_KEYS:
            if key not in item:
                problems.add(rel, (*at, key), "is missing")
        if len(problems.lines) > before:
            continue
        control, hosts, expires = item["control"], item["hosts"], item["expires"]
        if control not in catalogue.controls:
            problems.add(rel, (*at, "control"), f"unknown control id {control!r}")
        if hosts != ALL and (
            not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts)
        ):
            problems.add(rel, (*at, "hosts"), "must be 'all' or a non-empty list of host names")
        elif known_hosts is not None and isinstance(hosts, list):
            for j, name in enumerate(hosts):
                if name not in known_hosts:
                    problems.add(
                        rel, (*at, "hosts", j), f"unknown host {name!r} (not in the inventory)"
                    )
        for key in ("justification", "approver"):
            if not isinstance(item[key], str) or not item[key].strip():
                problems.add(rel, (*at, key), "must be a non-empty text")
        if isinstance(expires, dt.datetime) or not isinstance(expires, dt.date):
            problems.add(rel, (*at, "expires"), "must be a date (YYYY-MM-DD)")
        if len(problems.lines) > before:
            continue
        waiver = Waiver(
            control,
            None if hosts == ALL else tuple(hosts),
            item["justification"].strip(),
            item["approver"].strip(),
            expires,
        )
        if expires < today:
            expired.append(waiver)
        else:
            active.append(waiver)
    return Waivers(tuple(active), tuple(expired), tuple(problems.lines))


# Lynis


@dataclass(frozen=True)
class LynisCheck:
    """A Lynis test whose subject pdic controls check too (narrowed to findings whose details
    start with ``details``, when given)."""

    test: str
    controls: tuple[str, ...]
    details: str | None = None

    def matches(self, test: str, details: str) -> bool:
        if test != self.test:
            return False
        if self.details is None:
            return True
        words = details.replace("(", " ").split()
        return bool(words) and words[0] == self.details


@dataclass(frozen=True)
class LynisNotes:
    """The Lynis tests a container host cannot pass, with why, and those a pdic control checks."""

    out_of_reach: Mapping[str, Text] = field(default_factory=dict)
    checked_by: tuple[LynisCheck, ...] = ()

    def controls_for(self, test: str, details: str) -> tuple[str, ...]:
        """The pdic controls that check what Lynis test ``test`` found (``details``)."""
        found: list[str] = []
        for entry in self.checked_by:
            if entry.matches(test, details):
                found.extend(c for c in entry.controls if c not in found)
        return tuple(found)


def load_lynis_notes(path: Path | str, catalogue: Catalogue) -> LynisNotes:
    """Read ``lynis.yml`` (see compliance/lynis.yml); none at ``path`` is no notes.

    Every problem (an id that is not a Lynis test id, an id listed twice as out of reach, a
    reason without both texts, an unknown pdic control) is one line, all raised together.
    """
    file = Path(path)
    if not file.exists():
        return LynisNotes()
    rel = file.name
    data = _read(file, rel)
    problems = _Problems(file.parent)
    if not isinstance(data, Mapping):
        raise ComplianceError(f"{rel}: (file): must be a mapping with out_of_reach and checked_by")
    for key in data:
        if key not in ("out_of_reach", "checked_by"):
            problems.add(rel, (str(key),), "unknown key (known: out_of_reach, checked_by)")
    out_of_reach: dict[str, Text] = {}
    for i, item in enumerate(_list(data, "out_of_reach", rel, problems)):
        at: KeyPath = ("out_of_reach", i)
        if not isinstance(item, Mapping) or set(item) != {"ids", "reason"}:
            problems.add(rel, at, "must be a mapping with ids and reason")
            continue
        reason = _text(item["reason"])
        if reason is None:
            problems.add(rel, (*at, "reason"), _text_problem(item["reason"]))
        for j, test in enumerate(_lynis_ids(item["ids"], rel, (*at, "ids"), problems)):
            if test in out_of_reach:
                problems.add(rel, (*at, "ids", j), f"{test} is listed twice")
            elif reason is not None:
                out_of_reach[test] = reason
    checked_by: list[LynisCheck] = []
    for i, item in enumerate(_list(data, "checked_by", rel, problems)):
        at = ("checked_by", i)
        if not isinstance(item, Mapping) or not {"id", "controls"} <= set(item) <= {
            "id",
            "details",
            "controls",
        }:
            problems.add(rel, at, "must be a mapping with id, controls and optionally details")
            continue
        tests = _lynis_ids([item["id"]], rel, (*at, "id"), problems)
        details = item.get("details")
        if details is not None and (not isinstance(details, str) or not details.strip()):
            problems.add(rel, (*at, "details"), "must be a word (the start of Lynis's details)")
        controls = item["controls"]
        if not isinstance(controls, list) or not controls:
            problems.add(rel, (*at, "controls"), "must be a non-empty list of control ids")
            continue
        for j, control in enumerate(controls):
            if control not in catalogue.controls:
                problems.add(rel, (*at, "controls", j), f"unknown control id {control!r}")
        if tests and all(c in catalogue.controls for c in controls):
            checked_by.append(LynisCheck(tests[0], tuple(controls), details))
    problems.raise_if_any()
    return LynisNotes(out_of_reach, tuple(checked_by))


def _list(data: Mapping[str, Any], key: str, rel: str, problems: _Problems) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.add(rel, (key,), "must be a list")
        return []
    return value


def _lynis_ids(value: Any, rel: str, at: KeyPath, problems: _Problems) -> list[str]:
    if not isinstance(value, list) or not value:
        problems.add(rel, at, "must be a non-empty list of Lynis test ids")
        return []
    good = []
    for j, test in enumerate(value):
        if isinstance(test, str) and LYNIS_TEST_ID.fullmatch(test):
            good.append(test)
        else:
            where = at if len(value) == 1 and at[-1] == "id" else (*at, j)
            problems.add(rel, where, f"{test!r} is not a Lynis test id (such as KRNL-6000)")
    return good
