"""Ansible callback: import, once, what every task's worker process would import again.

Ansible runs each task on each host in a worker process forked from ``ansible-playbook``'s main
process. A worker inherits every module the main process has imported, and throws away what it
imports itself when it exits. The filter, test, lookup and action plugins the playbooks use are
loaded lazily, so without this plugin each worker imported them afresh: pdic's filters with the
pdic package behind them, community.general's and community.crypto's filter files (with the
cryptography library), Ansible's own filter modules. On the lab that was about a fifth of the
controller's CPU in a no-change ``site.yml``.

Loaded before the first play (callbacks are), it loads those plugins through Ansible's own plugin
loaders, so their caches are warm in every fork. Which collection plugins: every
``<namespace>.<collection>.<name>`` in the playbooks, roles and inventory being run that resolves
as a filter, test, lookup or action plugin; module names resolve as none and are skipped. The
builtin and pdic filters, tests and action plugins are loaded whole.

It changes no result: a plugin it cannot load is left to load where it is used, as before, and
the task that uses it reports the error. It prints nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: pdic_preload
type: aggregate
short_description: loads the plugins the playbooks use once, before workers fork
description:
  - Loads the builtin and configured filter, test and action plugins, and every collection
    plugin named in the playbooks, roles and inventory, in the main process, so that the
    worker processes forked for each task inherit them instead of loading them again.
"""

ROOT = Path(__file__).resolve().parents[4]
_FQCN = re.compile(r"\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\b")
_SOURCES = ("*.yml", "*.yaml", "*.j2")


def plugin_names(paths: Iterable[Path]) -> set[str]:
    """Every fully qualified name (``community.general.dict_kv``) in the files under ``paths``."""
    names: set[str] = set()
    for path in _files(paths):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        names.update(m for m in _FQCN.findall(text) if not m.startswith("ansible.builtin."))
    return names


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            for pattern in _SOURCES:
                yield from path.rglob(pattern)


def _sources() -> list[Path]:
    args: Any = context.CLIARGS
    inventories = [Path(str(i)) for i in (args.get("inventory") or ())]
    playbooks = [Path(str(p)).parent for p in (args.get("args") or ())]
    return [*{ROOT / "roles", ROOT / "playbooks", *playbooks, *inventories}]


def _is_collection(name: str) -> bool:
    """Whether ``name``'s first two parts are an installed collection (not ``sites.conf.j2``)."""
    namespace, collection, _ = name.split(".", 2)
    try:
        return importlib.util.find_spec(f"ansible_collections.{namespace}.{collection}") is not None
    except (ImportError, ValueError):
        return False


def preload(names: Iterable[str]) -> list[str]:
    """Load the plugins; returns the collection names that resolved to a plugin."""
    from ansible.plugins.loader import action_loader, filter_loader, lookup_loader, test_loader
    from ansible.template import Templar

    for loader in (filter_loader, test_loader, lookup_loader, action_loader):
        # Builtin and configured paths only (collections are not listed by all()).
        with contextlib.suppress(Exception):  # what fails here fails again where it is used
            for _ in loader.all(class_only=True):
                pass
    loaded = []
    for name in sorted(n for n in names if _is_collection(n)):
        for loader in (filter_loader, test_loader, lookup_loader, action_loader):
            try:
                found = loader.get(name, class_only=True) is not None
            except Exception:  # a plugin that fails here fails again where it is used
                found = False
            if found:
                loaded.append(name)
                break
    # Jinja's lexer is built on the first template and cached; build it before forking.
    Templar(loader=None, variables={}).template("{{ 1 }}")
    return loaded


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pdic_preload"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preload(plugin_names(_sources()))
