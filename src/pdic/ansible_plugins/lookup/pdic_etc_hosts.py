"""Ansible lookup: every host's /etc/hosts, from pdic's own loader.

``query('pdic_etc_hosts', inventory_dir) | first`` maps each host of that inventory directory
(checked first) to what :func:`pdic.hostsfile.render_etc_hosts` gives for it: the same text
bootstrap writes, so the common role and bootstrap never disagree about the file.

The lookup imports pdic from the source tree it sits in (``src/``), like ``pdic_targets``. It
does not write files or cache anything.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
name: pdic_etc_hosts
short_description: /etc/hosts of every host, generated from a pdic inventory
description:
  - Loads and checks each inventory directory with pdic's loader and returns, per directory, a
    mapping of host name to the content of its /etc/hosts.
options:
  _terms:
    description: Inventory directories (hosts.yml, group_vars/, host_vars/).
    required: true
"""

EXAMPLES = """
- name: The hosts file of this host
  ansible.builtin.debug:
    msg: "{{ (query('pdic_etc_hosts', inventory_dir) | first)[inventory_hostname] }}"
"""

RETURN = """
_list:
  description: One mapping per inventory directory, host name to /etc/hosts content.
  type: list
  elements: dict
"""

_SRC = str(Path(__file__).resolve().parents[3])


class LookupModule(LookupBase):  # type: ignore[misc]
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[dict[str, str]]:
        if _SRC not in sys.path:
            sys.path.insert(0, _SRC)
        from pdic.ansible_plugins.inventory_lookup import per_inventory
        from pdic.hostsfile import etc_hosts_by_host

        return per_inventory("pdic_etc_hosts", terms, etc_hosts_by_host)
