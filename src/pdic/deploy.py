"""Converge hosts with Ansible: `pdic deploy` runs playbooks/site.yml on an inventory.

The inventory is validated first (a bad one deploys nothing). ansible-playbook runs with the
project's ansible.cfg (pipelining, ControlPersist, fact cache), prints its progress per host and
task, and a small callback writes the recap as JSON, from which pdic prints a per-host summary.

Two engines: ``mitogen`` (the default; Mitogen's linear strategy: a no-change site.yml on the lab
took 43.7 s against 100.2 s with plain Ansible and the same settings, bench/deploy_nochange.py)
and ``ansible`` (plain ansible-core, always kept working). PDIC_ENGINE sets the default.
It deliberately does not retry failed hosts or hide Ansible's own output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pdic.errors import DeployError
from pdic.inventory import Inventory
from pdic.project import project_root
from pdic.vault import password_file

ENGINES = ("mitogen", "ansible")


@dataclass(frozen=True)
class HostSummary:
    name: str
    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    @property
    def success(self) -> bool:
        return self.failures == 0 and self.unreachable == 0


@dataclass(frozen=True)
class Pending:
    """What a deploy makes on the controller before Ansible runs: the secrets its vault file
    lacks and the reference archives not built yet. A real run creates them; ``--check`` only
    names them (and lends Ansible stand-ins that never reach a file of the project)."""

    vault_file: Path
    secrets: tuple[str, ...] = ()
    archives: tuple[Path, ...] = ()
    shapes: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    """Each pending secret's declared length and format (``hex`` for a TOTP key), for its
    stand-in."""

    def lines(self) -> list[str]:
        out = [f"{self.vault_file}: a real run creates secret {name}" for name in self.secrets]
        out += [f"{path}: a real run builds this archive" for path in self.archives]
        return out


@dataclass(frozen=True)
class TaskDiff:
    """A changed task of one host and its diff (``--diff``) as the callback rendered it:
    unified diff text, "" when the module gave none, never the text of a ``no_log`` task."""

    task: str
    diff: str = ""
    no_log: bool = False


@dataclass
class DeployResult:
    returncode: int
    hosts: list[HostSummary] = field(default_factory=list)
    changed_tasks: dict[str, list[str]] = field(default_factory=dict)
    output: str = ""
    pending: Pending | None = None
    changed_diffs: dict[str, list[TaskDiff]] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.returncode == 0 and all(h.success for h in self.hosts)

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts)


def default_engine() -> str:
    engine = os.environ.get("PDIC_ENGINE", "mitogen")
    if engine not in ENGINES:
        raise DeployError(f"PDIC_ENGINE={engine!r}: must be one of {', '.join(ENGINES)}")
    return engine


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise DeployError(f"{name} not found: install pdic's dependencies (pip install -e .)")
    return found


def engine_env(engine: str) -> dict[str, str]:
    """Environment that selects the engine (nothing for plain Ansible)."""
    if engine == "ansible":
        return {}
    if engine != "mitogen":
        raise DeployError(f"--engine: {engine!r} is not one of {', '.join(ENGINES)}")
    try:
        import ansible_mitogen
    except ImportError as exc:
        raise DeployError("--engine mitogen: the mitogen package is not installed") from exc
    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}


def build_command(
    inventory: Path,
    *,
    root: Path,
    playbook: str = "playbooks/site.yml",
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    argv = [_tool("ansible-playbook"), "-i", str(inventory), str(root / playbook)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if limit:
        argv += ["--limit", limit]
    if tags:
        argv += ["--tags", tags]
    if skip_tags:
        argv += ["--skip-tags", skip_tags]
    argv.extend(extra_args)
    return argv


def build_env(
    root: Path, engine: str, summary_file: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    callbacks = Path(__file__).parent / "ansible_plugins" / "callback"
    enabled = [c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c]
    env.update(
        {
            "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
            "ANSIBLE_CALLBACK_PLUGINS": str(callbacks),
            "ANSIBLE_CALLBACKS_ENABLED": ",".join([*enabled, "pdic_preload", "pdic_summary"]),
            "PDIC_SUMMARY_FILE": str(summary_file),
            "ANSIBLE_FORCE_COLOR": env.get(
                "ANSIBLE_FORCE_COLOR", "1" if sys.stdout.isatty() else "0"
            ),
        }
    )
    env.update(engine_env(engine))
    return env


def read_summary(path: Path) -> tuple[list[HostSummary], dict[str, list[str]]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return [], {}
    hosts = [
        HostSummary(
            name=name,
            ok=int(s.get("ok", 0)),
            changed=int(s.get("changed", 0)),
            failures=int(s.get("failures", 0)),
            unreachable=int(s.get("unreachable", 0)),
            skipped=int(s.get("skipped", 0)),
            rescued=int(s.get("rescued", 0)),
            ignored=int(s.get("ignored", 0)),
        )
        for name, s in data.get("hosts", {}).items()
    ]
    return hosts, dict(data.get("changed_tasks", {}))


def read_diffs(path: Path) -> dict[str, list[TaskDiff]]:
    """The changed tasks per host with their diffs; from ``changed_tasks`` without diffs when
    the summary has no ``changed_diffs`` (a callback older than it), {} without a summary."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    diffs = data.get("changed_diffs")
    if not isinstance(diffs, dict):
        tasks = data.get("changed_tasks")
        return {
            host: [TaskDiff(str(name)) for name in names]
            for host, names in (tasks.items() if isinstance(tasks, dict) else ())
        }
    return {
        host: [
            TaskDiff(str(e.get("task", "")), str(e.get("diff") or ""), bool(e.get("no_log")))
            for e in entries
            if isinstance(e, dict)
        ]
        for host, entries in diffs.items()
        if isinstance(entries, list)
    }


def vault_password_args(inventory: Inventory) -> list[str]:
    """``--vault-password-file`` when the inventory names one (``pdic_vault_password_file``,
    checked by :func:`pdic.vault.password_file`); Ansible runs it if it is a script."""
    path = password_file(inventory.vars, f"{inventory.path}/group_vars/all", DeployError)
    return [] if path is None else ["--vault-password-file", str(path)]


def prepare_controller(inventory: Inventory, root: Path, *, check: bool) -> Pending:
    """The secrets and reference archives the inventory wants: made by a real run, only named
    by a check (which writes nothing on the controller)."""
    from pdic.app.build import ensure_reference_builds, missing_reference_artifacts
    from pdic.secrets import VAULT_FILE, declared, ensure_secrets

    vault = inventory.path / VAULT_FILE
    secrets: tuple[str, ...] = ()
    if inventory.vars.get("pdic_secrets"):
        secrets = ensure_secrets(inventory, dry_run=check).created
    shapes = {d.name: (d.length, d.format) for d in declared(inventory) if d.name in secrets}
    applications = inventory.vars.get("pdic_applications")
    archives: tuple[Path, ...] = ()
    if applications:
        archives = tuple(missing_reference_artifacts(applications, root))
        if not check:
            ensure_reference_builds(applications, root)
    return Pending(vault, secrets, archives, shapes)


def stand_ins(pending: Pending) -> dict[str, object]:
    """Extra variables for a check run: a throw-away value for each secret a real run would
    create, and the archives a real run would build (the app_service role skips them)."""
    from pdic.secrets import generate

    found: dict[str, object] = {
        name: generate(*pending.shapes.get(name, (32, "alnum"))) for name in pending.secrets
    }
    if pending.archives:
        found["app_service_pending_artifacts"] = [str(p) for p in pending.archives]
    return found


def check_arguments(*, playbook: str, tags: str | None, skip_tags: str | None) -> None:
    """``--playbook`` names a playbook of the project's ``playbooks/``; ``--tags`` and
    ``--skip-tags`` name at least one tag. DeployError before anything is read or run."""
    from pdic.arguments import ArgumentError, one_line, words

    try:
        for option, value in (("--tags", tags), ("--skip-tags", skip_tags)):
            if value is not None:
                words(option, value)
        one_line("--playbook", playbook)
    except ArgumentError as exc:
        raise DeployError(str(exc)) from None
    root = project_root()
    path = (root / playbook).resolve()
    if not path.is_relative_to((root / "playbooks").resolve()) or path.suffix not in (
        ".yml",
        ".yaml",
    ):
        raise DeployError(f"--playbook: {playbook!r} is not a playbook of {root}/playbooks")
    if not path.is_file():
        raise DeployError(f"--playbook: {playbook!r}: no such playbook in {root}")


def deploy(
    inventory: Inventory,
    *,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    engine: str | None = None,
    playbook: str = "playbooks/site.yml",
    extra_args: Sequence[str] = (),
    capture: bool = False,
) -> DeployResult:
    """Run the playbook on the (checked) inventory; returns the per-host recap. Bad input
    raises before anything runs; ``check`` changes nothing on the hosts or on the controller."""
    engine = default_engine() if engine is None else engine
    engine_env(engine)  # an unknown engine is an error before anything else is read
    check_arguments(playbook=playbook, tags=tags, skip_tags=skip_tags)
    if limit is not None:
        inventory.select(limit)  # an unknown host or group is an error
    root = project_root()
    vault_args = vault_password_args(inventory)
    pending = prepare_controller(inventory, root, check=check)
    with tempfile.TemporaryDirectory(prefix="pdic-deploy-") as tmp:
        summary = Path(tmp) / "summary.json"
        more = list(extra_args)
        if check and (pending.secrets or pending.archives):
            values = Path(tmp) / "stand-ins.json"
            values.touch(mode=0o600)
            values.write_text(json.dumps(stand_ins(pending)))
            more += ["--extra-vars", f"@{values}"]
        argv = build_command(
            inventory.path,
            root=root,
            playbook=playbook,
            check=check,
            diff=diff,
            limit=limit,
            tags=tags,
            skip_tags=skip_tags,
            extra_args=[*vault_args, *more],
        )
        env = build_env(root, engine, summary)
        proc = subprocess.run(
            argv, cwd=root, env=env, capture_output=capture, text=True, check=False
        )
        output = f"{proc.stdout or ''}{proc.stderr or ''}"
        hosts, changed_tasks = read_summary(summary)
        diffs = read_diffs(summary)
    return DeployResult(proc.returncode, hosts, changed_tasks, output, pending, diffs)
