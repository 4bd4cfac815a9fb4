"""Ansible lookup: the Prometheus file_sd targets of an inventory, from pdic's own loader.

``query('pdic_targets', inventory_dir) | first`` is what :func:`pdic.monitoring.file_sd_targets`
returns for that inventory directory (checked first, as ``pdic monitoring targets`` does): one
file_sd list per scrape job. The prometheus role writes them to its file_sd directory, so the
targets Ansible deploys and the ones the command writes are the same by construction.

The lookup imports pdic from the source tree it sits in (``src/``), so a checkout runs its own
code whatever pdic the Python environment may hold. It does not write files or cache anything.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
name: pdic_targets
short_description: Prometheus file_sd targets generated from a pdic inventory
description:
  - Loads and checks each inventory directory with pdic's loader and returns, per directory, a
    mapping of scrape job name to its file_sd list (targets and labels).
options:
  _terms:
    description: Inventory directories (hosts.yml, group_vars/, host_vars/).
    required: true
"""

EXAMPLES = """
- name: The targets of the inventory Ansible runs with
  ansible.builtin.debug:
    msg: "{{ query('pdic_targets', inventory_dir) | first }}"
"""

RETURN = """
_list:
  description: One mapping per inventory directory, job name to file_sd list.
  type: list
  elements: dict
"""

_SRC = str(Path(__file__).resolve().parents[3])


class LookupModule(LookupBase):  # type: ignore[misc]
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        if _SRC not in sys.path:
            sys.path.insert(0, _SRC)
        from pdic.ansible_plugins.inventory_lookup import per_inventory
        from pdic.monitoring.targets import file_sd_targets

        return per_inventory("pdic_targets", terms, file_sd_targets)
