"""Ansible callback: write the play recap per host as JSON for `pdic deploy`'s summary.

Enabled by `pdic deploy` alongside the normal stdout callback (it prints nothing itself). The
file named by PDIC_SUMMARY_FILE gets ``{"hosts": {name: {ok, changed, failures, unreachable,
skipped, rescued, ignored}}, "changed_tasks": {name: [task, ...]}, "changed_diffs": {name:
[{"task": task, "diff": text, "no_log": bool}, ...]}}``.

``changed_diffs`` holds one entry per changed task, in the order of ``changed_tasks``: the
task's diff (``--diff``) as unified diff text, without colour ("" when the module gave none).
A task whose result is censored (``no_log``) gives no diff, only ``"no_log": true``. It does
not mask secrets in the diffs it writes: the file is the reader's to redact (`pdic drift`).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: pdic_summary
type: aggregate
short_description: writes the per-host recap as JSON for pdic
description:
  - Writes ok/changed/failed/unreachable per host, the names of changed tasks and their diffs,
    to the file named by the PDIC_SUMMARY_FILE environment variable.
requirements:
  - PDIC_SUMMARY_FILE set in the environment
"""


def _text(value: Any) -> str:
    """One side of a diff as text: structures as sorted JSON (as Ansible shows them)."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, indent=4, separators=(",", ": ")) + "\n"
    return str(value)


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def render_diff(diff: Any) -> str:
    """A module's ``diff`` (a mapping or a list of them: ``before``/``after`` with optional
    ``before_header``/``after_header``, and/or ``prepared`` text) as unified diff text."""
    out: list[str] = []
    for one in diff if isinstance(diff, list) else [diff]:
        if not isinstance(one, Mapping):
            continue
        for key, what in (("dst_binary", "destination"), ("src_binary", "source")):
            if key in one:
                out.append(f"diff skipped: {what} file appears to be binary\n")
        for key, what in (("dst_larger", "destination"), ("src_larger", "source")):
            if key in one:
                out.append(f"diff skipped: {what} file size is greater than {one[key]}\n")
        if "before" in one and "after" in one:
            before = "before" + (f": {one['before_header']}" if "before_header" in one else "")
            after = "after" + (f": {one['after_header']}" if "after_header" in one else "")
            out.extend(
                difflib.unified_diff(
                    _lines(_text(one["before"])),
                    _lines(_text(one["after"])),
                    fromfile=before,
                    tofile=after,
                    lineterm="\n",
                )
            )
        if one.get("prepared"):
            prepared = str(one["prepared"])
            out.append(prepared if prepared.endswith("\n") else prepared + "\n")
    return "".join(out)


def censored(result: Mapping[str, Any], task: Any = None) -> bool:
    """Whether Ansible hid the result (``no_log`` on the task or in the result)."""
    no_log = getattr(task, "no_log", False)
    return bool(
        (isinstance(no_log, bool) and no_log)
        or result.get("_ansible_no_log")
        or "censored" in result
    )


def task_diff(result: Mapping[str, Any], task: Any = None) -> dict[str, Any]:
    """``{"diff": text, "no_log": bool}`` of a changed result: its own diff, else those of
    its changed loop items (an item hidden by no_log hides the whole task's diff)."""
    if censored(result, task):
        return {"diff": "", "no_log": True}
    if result.get("diff"):
        return {"diff": render_diff(result["diff"]), "no_log": False}
    items = [r for r in result.get("results") or [] if isinstance(r, Mapping)]
    changed = [r for r in items if r.get("changed")]
    if any(censored(r) for r in changed):
        return {"diff": "", "no_log": True}
    text = "".join(render_diff(r["diff"]) for r in changed if r.get("diff"))
    return {"diff": text, "no_log": False}


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pdic_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changed: dict[str, list[str]] = {}
        self._diffs: dict[str, list[dict[str, Any]]] = {}

    def v2_runner_on_ok(self, result: Any) -> None:
        if result._result.get("changed", False):
            host = result._host.get_name()
            name = result._task.get_name()
            self._changed.setdefault(host, []).append(name)
            entry = {"task": name, **task_diff(result._result, result._task)}
            self._diffs.setdefault(host, []).append(entry)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get("PDIC_SUMMARY_FILE")
        if not path:
            return
        hosts = {}
        for host in sorted(stats.processed.keys()):
            hosts[host] = stats.summarize(host)
        summary = {"hosts": hosts, "changed_tasks": self._changed, "changed_diffs": self._diffs}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
