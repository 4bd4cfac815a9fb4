"""`pdic db promote HOST`: a replica takes over from the primary, which is fenced first.

Steps, each reported, stopping at the first that fails:

1. The replica is checked: it is a replica (``pg_is_in_recovery()``) of the inventory's
   database group.
2. The old primary is fenced, if it answers: PostgreSQL stopped, its unit masked and Debian's
   ``start.conf`` set to ``disabled``, and ``/etc/pdic/db-fenced`` written (the postgresql role
   then refuses to make it primary again). An old primary that does not answer is reported
   as unfenced: the operator must make sure it stays down (``--force`` goes on anyway).
3. The replica is promoted (``pg_promote()``, waiting until it accepts writes).
4. Every application host (the groups of the roles in ``postgresql_roles``) gets the new
   primary's name in ``/etc/pdic/db-primary``.

Then the inventory must say so: the command ends by naming the ``postgresql_role`` changes to
make in hosts.yml; the next deploy rebuilds the old primary as a replica of the new one.

Every step done is recorded on the control machine (beside the change journal) as soon as it is
done. When a step fails or the command is interrupted (a host dropping, a deadline, Ctrl-C),
the command says which steps were done on which host, what state that leaves the centre in,
and the one command that finishes it: ``pdic db promote HOST --resume`` goes on from the step
that failed, doing again nothing that was done. Where undoing is safe pdic does it itself: an
old primary that was stopped but could not be fenced (and no ``--force``) is started again, so
a failed promotion never leaves the centre without a primary by pdic's own hand.

It does not move the replication slots (the next deploy creates them on the new primary) or
restart the applications (they read the file; app_service decides how).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pdic.db.common import Connect, DbError, run, sql, topology
from pdic.files import write_atomically
from pdic.inventory import Inventory

FENCE_FILE = "/etc/pdic/db-fenced"
PRIMARY_FILE = "/etc/pdic/db-primary"
SERVICE = "postgresql@15-main"
START_CONF = "/etc/postgresql/15/main/start.conf"


@dataclass
class PromoteResult:
    new_primary: str
    old_primary: str
    fenced: bool = False
    steps: list[str] = field(default_factory=list)
    app_hosts: list[str] = field(default_factory=list)
    failed_hosts: dict[str, str] = field(default_factory=dict)


def app_hosts(inventory: Inventory) -> list[str]:
    """Hosts of the groups that connect to the databases as application roles, in order."""
    groups: set[str] = set()
    for role in inventory.vars.get("postgresql_roles") or []:
        if isinstance(role, Mapping) and role.get("databases"):
            groups.update(str(g) for g in role.get("groups") or [])
    return [h.name for h in inventory.hosts.values() if groups & set(h.groups)]


def fence_commands(new_primary: str, when: str) -> list[str]:
    """Shell commands that stop the old primary and keep it from starting (run as root)."""
    record = json.dumps({"fenced_at": when, "new_primary": new_primary})
    return [
        f"systemctl stop {SERVICE}",
        f"systemctl mask {SERVICE}",
        f"echo disabled > {START_CONF}",
        f"install -d -m 0755 /etc/pdic && printf '%s\\n' '{record}' > {FENCE_FILE}",
    ]


@dataclass
class Progress:
    """What a promotion has done so far, kept on the control machine after every step."""

    new_primary: str
    old_primary: str
    started: str
    fence_done: list[str] = field(default_factory=list)
    fenced: bool = False
    forced: bool = False
    promoted: bool = False
    repointed: list[str] = field(default_factory=list)


class PromoteInterrupted(DbError):
    """A promotion stopped part-way: what was done, the state it leaves, how to finish."""


def progress_file(inventory: Inventory) -> Path:
    """Where the promotion of this inventory keeps its progress (beside the change journal)."""
    from pdic.journal import journal_path

    key = hashlib.sha256(str(inventory.path.resolve()).encode()).hexdigest()[:12]
    return journal_path().parent / "operations" / f"db-promote-{key}.json"


def _save(path: Path, progress: Progress) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, (json.dumps(asdict(progress), indent=2) + "\n").encode(), mode=0o600)


def _load(path: Path) -> Progress | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Progress(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise DbError(f"{path}: the saved progress cannot be read: {exc}") from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def promote(
    inventory: Inventory,
    name: str,
    connect: Connect,
    *,
    force: bool = False,
    resume: bool = False,
    say: Callable[[str], None] = lambda _: None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    state: Path | None = None,
) -> PromoteResult:
    """Promote the replica ``name``; see the module's docstring. PromoteInterrupted says what
    was done and how to finish when a step fails or the command is interrupted."""
    topo = topology(inventory)
    host = inventory.host(name)
    path = state or progress_file(inventory)
    saved = _load(path)
    if resume:
        if saved is None or saved.new_primary != host.name:
            raise DbError(
                f"{path}: no interrupted promotion of {host.name} to resume"
                + (f" (the one saved promotes {saved.new_primary})" if saved else "")
            )
        progress = saved
    else:
        if saved is not None:
            raise DbError(
                f"{path}: a promotion of {saved.new_primary} (started {saved.started}) was "
                f"interrupted: finish it with `pdic db promote {saved.new_primary} --resume`, "
                f"or remove that file once the centre is checked by hand"
            )
        if host.name not in {r.name for r in topo.replicas}:
            raise DbError(
                f"{name}: not a replica of group db (postgresql_role: "
                f"{host.get('postgresql_role')})"
            )
        progress = Progress(host.name, topo.primary.name, now().isoformat(timespec="seconds"))
    old_name = progress.old_primary
    old_host = inventory.host(old_name)
    result = PromoteResult(host.name, old_name, fenced=progress.fenced)
    command = f"pdic db promote {host.name} --resume"

    def step(text: str) -> None:
        result.steps.append(text)
        say(text)

    def stop(why: str, state_now: str, finish: str) -> PromoteInterrupted:
        lines = [f"promotion of {host.name} stopped: {why}"]
        lines += [f"done: {s}" for s in result.steps] or ["done: nothing"]
        lines += [f"state: {state_now}", f"to finish: {finish}"]
        return PromoteInterrupted("\n".join(lines))

    target = connect(host)
    try:
        if not progress.promoted:
            rows = sql(target, "SELECT pg_is_in_recovery()", what=f"{name}: psql")
            if rows and rows[0][0] == "f" and progress.fence_done:
                # The interrupted run's pg_promote reached it after all (sent before its link
                # dropped, delivered when it came back).
                progress.promoted = True
                _save(path, progress)
                step(f"{name}: already accepts writes (promoted by the interrupted run)")
            elif not rows or rows[0][0] != "t":
                raise DbError(f"{name}: PostgreSQL is not in recovery: it is not a replica now")
            else:
                step(f"{name}: is a replica")
    except (Exception, KeyboardInterrupt) as exc:
        if not progress.fence_done:
            raise DbError(f"{name}: cannot be checked: {_why(exc)}; nothing was changed") from None
        raise stop(
            _why(exc),
            f"{old_name} fenced ({', '.join(progress.fence_done)}); {name} not promoted: the "
            "centre has no primary",
            f"`{command}` once {name} answers",
        ) from None

    if not progress.fenced and not progress.forced:
        _fence(progress, path, old_host, host.name, connect, now, force, step, stop, command)
        result.fenced = progress.fenced

    try:
        if not progress.promoted:
            sql(target, "SELECT pg_promote(true, 120)", what=f"{name}: pg_promote")
            rows = sql(target, "SELECT pg_is_in_recovery()", what=f"{name}: psql")
            if not rows or rows[0][0] != "f":
                raise DbError(f"{name}: still in recovery after pg_promote")
            progress.promoted = True
            _save(path, progress)
            step(f"{name}: promoted, accepts writes")
    except (Exception, KeyboardInterrupt) as exc:
        raise stop(
            _why(exc),
            f"{old_name} {'fenced' if progress.fenced else 'down, NOT fenced (--force)'}; "
            f"{name} not promoted (or not known to be): the centre has no primary",
            f"`{command}` once {name} answers",
        ) from None

    fqdn = topo.fqdn(host)
    todo = [a for a in app_hosts(inventory) if a not in progress.repointed]
    try:
        for app in todo:
            try:
                run(
                    connect(inventory.host(app)),
                    "sh -c %s",
                    f"install -d -m 0755 /etc/pdic && printf '%s\\n' {fqdn} > {PRIMARY_FILE}.tmp "
                    f"&& chmod 0644 {PRIMARY_FILE}.tmp && mv {PRIMARY_FILE}.tmp {PRIMARY_FILE}",
                    what=f"{app}: {PRIMARY_FILE}",
                )
                progress.repointed.append(app)
                _save(path, progress)
            except Exception as exc:
                result.failed_hosts[app] = _why(exc)
    except KeyboardInterrupt:
        left = [a for a in todo if a not in progress.repointed]
        raise stop(
            "interrupted (Ctrl-C)",
            f"{name} is the primary; {', '.join(left)} still point at {old_name}",
            f"`{command}`",
        ) from None
    result.app_hosts = [a for a in app_hosts(inventory) if a in progress.repointed]
    step(
        f"{PRIMARY_FILE} -> {fqdn} on {len(result.app_hosts)} application host(s)"
        + (f"; FAILED on {', '.join(sorted(result.failed_hosts))}" if result.failed_hosts else "")
    )
    if result.failed_hosts:
        step(
            f"{name} is the primary; {', '.join(sorted(result.failed_hosts))} still point at "
            f"{old_name}: finish with `{command}` once they answer"
        )
        return result
    path.unlink(missing_ok=True)
    step(
        f"now edit {inventory.path}/hosts.yml: {host.name} postgresql_role: primary, "
        f"{old_name} postgresql_role: replica; the next `pdic deploy` rebuilds "
        f"{old_name} as a replica of {host.name}"
    )
    return result


def _fence(
    progress: Progress,
    path: Path,
    old_host: Any,
    new_name: str,
    connect: Connect,
    now: Callable[[], dt.datetime],
    force: bool,
    step: Callable[[str], None],
    stop: Callable[[str, str, str], PromoteInterrupted],
    command: str,
) -> None:
    """Fence the old primary, one recorded command at a time (see the module's docstring)."""
    old_name = old_host.name
    old = connect(old_host)
    commands = fence_commands(new_name, now().isoformat(timespec="seconds"))
    labels = ["stopped", f"{SERVICE} masked", "start.conf disabled", FENCE_FILE]
    try:
        for label, text in zip(labels, commands, strict=True):
            if label in progress.fence_done:
                continue
            run(old, "sh -c %s", text, what=f"{old_name}: fence")
            progress.fence_done.append(label)
            _save(path, progress)
    except (Exception, KeyboardInterrupt) as exc:
        why = _why(exc)
        done = progress.fence_done
        step(f"{old_name}: NOT fenced: {why}" + (f" (done: {', '.join(done)})" if done else ""))
        if force and not isinstance(exc, KeyboardInterrupt):
            progress.forced = True
            _save(path, progress)
            return
        if not done:
            path.unlink(missing_ok=True)
            raise DbError(
                f"{old_name} could not be fenced ({why}); nothing was changed: make sure it is "
                f"down for good, then rerun with --force"
            ) from None
        # Stopped but not fenced: start it again rather than leave the centre with no primary.
        try:
            run(
                old,
                "sh -c %s",
                f"systemctl unmask {SERVICE}; echo auto > {START_CONF}; "
                f"rm -f {FENCE_FILE}; systemctl start {SERVICE}",
                what=f"{old_name}: restart",
            )
        except (Exception, KeyboardInterrupt) as again:
            _save(path, progress)
            raise stop(
                why,
                f"{old_name}: PostgreSQL stopped, not fenced ({', '.join(done)} done); pdic "
                f"could not start it again ({_why(again)}): the centre has no primary",
                f"make sure {old_name} stays down, then `{command} --force`; or start "
                f"PostgreSQL on {old_name} again (systemctl unmask --now {SERVICE}) and remove "
                f"{path}",
            ) from None
        path.unlink(missing_ok=True)
        step(f"{old_name}: started again (it was stopped but could not be fenced)")
        raise stop(
            why,
            f"{old_name} is the primary again, as before; {new_name} is still a replica",
            f"make sure {old_name} can be fenced (or is down for good), then "
            f"`pdic db promote {new_name}` (with --force if it is down)",
        ) from None
    progress.fenced = True
    _save(path, progress)
    step(f"{old_name}: fenced (stopped, {SERVICE} masked, start.conf disabled, {FENCE_FILE})")
