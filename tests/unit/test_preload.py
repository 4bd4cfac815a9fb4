"""The pdic_preload callback, and the fact setting the deploy's speed relies on.

pdic_preload must find the collection plugins the playbooks name and load them, with pdic's
own filters and what they import, in the process it runs in (Ansible's main process, whose
workers fork from it). ansible.cfg turns off fact injection, so no playbook, role or inventory
may read a fact as a top-level ``ansible_*`` variable.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from pdic.ansible_plugins.callback.pdic_preload import plugin_names

ROOT = Path(__file__).resolve().parents[2]

# Magic and connection variables, which are not facts and stay top-level.
NOT_FACTS = {
    "ansible_check_mode",
    "ansible_facts",
    "ansible_host",
    "ansible_managed",
    "ansible_python_interpreter",
    "ansible_ssh_common_args",
    "ansible_ssh_private_key_file",
    "ansible_user",
}


def test_plugin_names_are_fully_qualified_and_not_builtin(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "main.yml").write_text(
        "- ansible.builtin.set_fact:\n"
        "    x: \"{{ a | map('community.general.dict_kv', 'k') }}\"\n"
        "- community.postgresql.postgresql_query: {query: select 1}\n"
    )
    (tmp_path / "site.conf.j2").write_text("{{ b | community.crypto.split_pem }}\n")
    (tmp_path / "notes.txt").write_text("community.general.not_read\n")
    assert plugin_names([tmp_path]) == {
        "community.general.dict_kv",
        "community.postgresql.postgresql_query",
        "community.crypto.split_pem",
    }


def test_preload_loads_the_collection_plugins_and_pdic_filters() -> None:
    code = """
import json, sys
from ansible import context
from ansible.plugins.loader import init_plugin_loader
from ansible.utils.context_objects import CLIArgs
init_plugin_loader()
context.CLIARGS = CLIArgs({"inventory": ["inventory/lab"], "args": ["playbooks/site.yml"]})
from pdic.ansible_plugins.callback import pdic_preload as p
loaded = p.preload(p.plugin_names(p._sources()))
mods = ["pdic.app.model", "pdic.mail.model", "cryptography.x509"]
print(json.dumps({"loaded": loaded, "modules": [m for m in mods if m in sys.modules]}))
"""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    # Filters the roles use, and nothing that is only a module.
    assert {"community.general.dict_kv", "community.crypto.x509_certificate_info"} <= set(
        result["loaded"]
    )
    assert not [n for n in result["loaded"] if n.startswith("community.postgresql.")]
    assert result["modules"] == ["pdic.app.model", "pdic.mail.model", "cryptography.x509"]


def test_ansible_cfg_enables_preload_and_no_fact_injection() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg["defaults"]["callbacks_enabled"] == "pdic_preload"
    assert cfg["defaults"]["inject_facts_as_vars"] == "False"


def test_no_fact_is_read_as_a_top_level_variable() -> None:
    used = set()
    for top in ("roles", "playbooks", "inventory"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix in {".yml", ".yaml", ".j2"} and path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                used |= {
                    (m, str(path.relative_to(ROOT))) for m in re.findall(r"\bansible_\w+", text)
                }
    assert sorted((n, p) for n, p in used if n not in NOT_FACTS) == []
