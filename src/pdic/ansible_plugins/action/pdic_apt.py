"""Action ``pdic_apt``: ``ansible.builtin.apt``, after asking dpkg whether there is anything to do.

Every role installs its packages with ``state: present``. The apt module opens apt's cache on
the host for that, which costs about a second of the host's CPU even when everything is
already as wanted: on the lab (nine hosts, two cores) that was 74 s of a 230 s no-change deploy.
``dpkg-query`` answers the same question in milliseconds. So, for ``state: present`` or
``absent`` with plain package names, this action runs dpkg-query and returns "ok" when every
package already is so; otherwise (a package to change, another state, a version pin, a .deb,
a cache update) it runs
``ansible.builtin.apt`` with the task's arguments unchanged, in check mode too, so apt's
behaviour and output are what the task gets.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

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


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = dict(self._task.args)
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
        result.update(
            self._execute_module(
                module_name="ansible.builtin.apt", module_args=args, task_vars=task_vars
            )
        )
        return result
