"""Action ``pdic_apt``: ``ansible.builtin.apt``, after asking dpkg whether there is anything to do.

Every role installs its packages with ``state: present``. The apt module opens apt's cache on
the host for that, which costs about a second of the host's CPU even when everything is
already as wanted: on the lab (nine hosts, two cores) that was 74 s of a 230 s no-change deploy.
``dpkg-query`` answers the same question in milliseconds. So, for ``state: present`` or
``absent`` with plain package names, this action runs dpkg-query and returns "ok" when every
package already is so; otherwise (a package to change, another state, a version pin, a .deb,
a cache update) it runs ``ansible.builtin.apt`` with the task's arguments (less this action's
own ``cache_valid_time``, below), in check mode too, so apt's behaviour and output are what the
task gets.

Package lists. Before apt is asked to install something, the host's package lists are
refreshed if they are older than ``cache_valid_time`` seconds (this action's own option,
default 3600; 0 refreshes them before every install) or apt has no record of a successful
update (``/var/lib/apt/periodic/update-success-stamp``, which the common role has apt write).
So a run with nothing to install never looks at the lists, and one that installs refreshes
them first, as each role's own "age of the lists" and "lists fresh enough" tasks did on every
run. The refresh is an apt call of its own (``update_cache`` and ``cache_valid_time``), made
by one host at a time for the whole run (a lock on the controller: the lab's apt-cacher-ng
fails when several hosts refresh the same index at once); the installs then run in parallel.
Removing packages needs no lists: no refresh. A task that sets ``update_cache`` itself gets
apt's own handling, its ``cache_valid_time`` included.

It does not upgrade what is installed, nor refresh lists when there is nothing to install:
unattended-upgrades (the common role) keeps installed packages current.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
from collections.abc import Iterator
from typing import Any

from ansible import constants as C
from ansible.plugins.action import ActionBase

# Plain Debian package names, optionally with an architecture (no version pins, no globs).
_PLAIN = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?$")


def names_of(args: dict[str, Any]) -> list[str] | None:
    """The packages to look up with dpkg, or None when only apt can tell."""
    if args.get("state", "present") not in ("present", "absent"):
        return None
    if args.get("deb") or args.get("upgrade") or args.get("update_cache"):
        return None
    if args.get("autoremove") or args.get("autoclean"):
        return None
    names = args.get("name", args.get("pkg", args.get("package")))
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    if not names or not all(isinstance(n, str) and _PLAIN.match(n) for n in names):
        return None
    return list(names)


def nothing_to_do(args: dict[str, Any], names: list[str], rc: int, stdout: str) -> bool:
    """Whether dpkg-query's ``${Package} ${db:Status-Abbrev}`` lines show the wanted state.

    Status-Abbrev is three letters: wanted, current, error. ``present`` needs every name
    currently installed without error; ``absent`` needs none installed (``purge``: nor its
    configuration files left). dpkg-query exits 1 when a name is unknown to it: absent then.
    """
    current: dict[str, str] = {}
    for line in stdout.splitlines():
        package, _, status = line.partition(" ")
        current[package] = status
    bare = [name.split(":", 1)[0] for name in names]
    if args.get("state", "present") == "present":
        return rc == 0 and all(
            current.get(n, "")[1:2] == "i" and current[n][2:3].strip() == "" for n in bare
        )
    gone = "nc" if not args.get("purge") else "n"
    return rc in (0, 1) and all(n not in current or current[n][1:2] in gone for n in bare)


# Written by apt after each successful update of the lists (the common role's apt hook).
STAMP = "/var/lib/apt/periodic/update-success-stamp"
DEFAULT_CACHE_VALID_TIME = 3600
# The host's clock, then the stamp's time (nothing, and exit status 1, without a stamp).
LISTS_QUERY = f"date +%s && stat -c %Y -- {STAMP}"


def installs(args: dict[str, Any]) -> bool:
    """Whether apt, called with ``args``, may install something (so needs fresh lists).

    Not for ``state: absent`` (removing reads no lists), nor when the task refreshes the lists
    itself (``update_cache``: apt's own handling), nor for calls that name nothing to install.
    """
    if args.get("update_cache") or args.get("state", "present") == "absent":
        return False
    named = args.get("name", args.get("pkg", args.get("package")))
    return bool(named or args.get("deb") or args.get("upgrade") not in (None, False, "no"))


def lists_age(rc: int, stdout: str) -> int | None:
    """Seconds since apt last updated the lists, from ``LISTS_QUERY``'s output; None when
    there is no record of an update (or the answer is not one)."""
    lines = stdout.split()
    if rc != 0 or len(lines) != 2 or not all(n.isdigit() for n in lines):
        return None
    return int(lines[0]) - int(lines[1])


def refresh_args(age: int | None, valid_time: int) -> dict[str, Any] | None:
    """The apt call that refreshes the lists, or None when they are fresh enough.

    Lists ``valid_time`` seconds old or less are fresh. Without a record of an update the
    lists are refreshed whatever their age (``cache_valid_time`` 0: apt would otherwise judge
    by its cache file's age), so that apt writes the record.
    """
    if age is not None and valid_time > 0 and age <= valid_time:
        return None
    return {"update_cache": True, "cache_valid_time": valid_time if age is not None else 0}


@contextlib.contextmanager
def one_host_at_a_time(path: str) -> Iterator[None]:
    """Holds an exclusive lock on ``path`` (made if missing) while the block runs. Each of
    Ansible's worker processes opens the file itself, so the lock is between hosts."""
    with open(path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def refresh_lock_path() -> str:
    """The run's lock file: in Ansible's local temporary directory, which the controller
    makes once per run, before its workers start (so every worker sees the same one)."""
    return os.path.join(C.DEFAULT_LOCAL_TMP, "pdic-apt-lists.lock")


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = dict(self._task.args)
        valid_time = DEFAULT_CACHE_VALID_TIME
        if not args.get("update_cache"):  # else cache_valid_time is apt's own option
            value = args.pop("cache_valid_time", DEFAULT_CACHE_VALID_TIME)
            try:
                valid_time = int(value)
            except (TypeError, ValueError):
                valid_time = -1
            if valid_time < 0:
                msg = f"pdic_apt: cache_valid_time must be a number of seconds >= 0, got {value!r}"
                result.update(failed=True, msg=msg)
                return result
        names = names_of(args)
        if names is not None:
            query = "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' -- " + " ".join(
                shlex.quote(n) for n in names
            )
            found = self._low_level_execute_command(query)
            if nothing_to_do(args, names, found.get("rc", 1), found.get("stdout", "")):
                state = args.get("state", "present")
                result.update(changed=False, msg=f"{state}: {', '.join(names)}")
                return result
        updated: dict[str, Any] | None = None
        if installs(args):
            found = self._low_level_execute_command(LISTS_QUERY)
            age = lists_age(found.get("rc", 1), found.get("stdout", ""))
            refresh = refresh_args(age, valid_time)
            if refresh is not None:
                with one_host_at_a_time(refresh_lock_path()):
                    updated = self._execute_module(
                        module_name="ansible.builtin.apt", module_args=refresh, task_vars=task_vars
                    )
                if updated.get("failed"):
                    result.update(updated)
                    return result
        result.update(
            self._execute_module(
                module_name="ansible.builtin.apt", module_args=args, task_vars=task_vars
            )
        )
        if updated is not None:  # whether the lists were refreshed before, not by, this call
            result["cache_updated"] = bool(updated.get("cache_updated"))
        return result
