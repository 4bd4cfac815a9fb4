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
from pdic.inventory import load_valid_inventory
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


@dataclass
class DeployResult:
    returncode: int
    hosts: list[HostSummary] = field(default_factory=list)
    changed_tasks: dict[str, list[str]] = field(default_factory=dict)
    output: str = ""

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


def vault_password_args(all_vars: Mapping[str, object], inventory: Path) -> list[str]:
    """``--vault-password-file`` when the inventory names one (``pdic_vault_password_file``,
    checked by :func:`pdic.vault.password_file`); Ansible runs it if it is a script."""
    path = password_file(all_vars, f"{inventory}/group_vars/all", DeployError)
    return [] if path is None else ["--vault-password-file", str(path)]


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
    inventory: Path | str,
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
    """Run the playbook; returns the per-host recap. Bad input raises before anything runs."""
    inventory = Path(inventory)
    engine = default_engine() if engine is None else engine
    engine_env(engine)  # an unknown engine is an error before anything else is read
    check_arguments(playbook=playbook, tags=tags, skip_tags=skip_tags)
    inv = load_valid_inventory(inventory)
    if limit is not None:
        inv.select(limit)  # an unknown host or group is an error
    root = project_root()
    vault_args = vault_password_args(inv.vars, inventory)
    if inv.vars.get("pdic_secrets"):
        from pdic.secrets import ensure_secrets

        ensure_secrets(inventory)  # the secrets the roles read from the vault file
    if inv.vars.get("pdic_applications"):
        from pdic.app.build import ensure_reference_builds

        ensure_reference_builds(inv.vars["pdic_applications"], project_root())
    with tempfile.TemporaryDirectory(prefix="pdic-deploy-") as tmp:
        summary = Path(tmp) / "summary.json"
        argv = build_command(
            inventory,
            root=root,
            playbook=playbook,
            check=check,
            diff=diff,
            limit=limit,
            tags=tags,
            skip_tags=skip_tags,
            extra_args=[*vault_args, *extra_args],
        )
        env = build_env(root, engine, summary)
        proc = subprocess.run(
            argv, cwd=root, env=env, capture_output=capture, text=True, check=False
        )
        output = f"{proc.stdout or ''}{proc.stderr or ''}"
        hosts, changed_tasks = read_summary(summary)
    return DeployResult(proc.returncode, hosts, changed_tasks, output)
