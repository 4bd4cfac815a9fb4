"""Ansible callback: write the play recap per host as JSON for `pdic deploy`'s summary.

Enabled by `pdic deploy` alongside the normal stdout callback (it prints nothing itself). The
file named by PDIC_SUMMARY_FILE gets ``{"hosts": {name: {ok, changed, failures, unreachable,
skipped, rescued, ignored}}, "changed_tasks": {name: [task, ...]}}``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: pdic_summary
type: aggregate
short_description: writes the per-host recap as JSON for pdic
description:
  - Writes ok/changed/failed/unreachable per host, and the names of changed tasks, to the file
    named by the PDIC_SUMMARY_FILE environment variable.
requirements:
  - PDIC_SUMMARY_FILE set in the environment
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pdic_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changed: dict[str, list[str]] = {}

    def v2_runner_on_ok(self, result: Any) -> None:
        if result._result.get("changed", False):
            host = result._host.get_name()
            self._changed.setdefault(host, []).append(result._task.get_name())

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get("PDIC_SUMMARY_FILE")
        if not path:
            return
        hosts = {}
        for host in sorted(stats.processed.keys()):
            hosts[host] = stats.summarize(host)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"hosts": hosts, "changed_tasks": self._changed}, fh, indent=2)
