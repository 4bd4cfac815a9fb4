"""Bad firewall rules fail in the firewall role's preflight, naming the rule, before any change.

Runs the role's preflight with ansible-playbook on the controller (connection local), as
tests/unit/test_pki_preflight.py does for the PKI roles.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from test_pki_preflight import _assert_fails_saying, _run

GOOD = {"name": "ssh", "ports": [22], "from_networks": ["10.0.0.0/8"]}


def _vars(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"ansible_python_interpreter": sys.executable, "firewall_rules": list(rules)}


def test_good_rules_pass(tmp_path: Path) -> None:
    run = _run("firewall", _vars(GOOD, dict(GOOD, name="web", ports=[80, 443])), tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        pytest.param({"name": "big", "ports": [70000], "from_networks": ["10.0.0.0/8"]}, "big"),
        pytest.param({"name": "noports", "ports": [], "from_networks": ["10.0.0.0/8"]}, "noports"),
        pytest.param(
            {"name": "icmp", "ports": [1], "proto": "icmp", "from_groups": ["all"]}, "icmp"
        ),
        pytest.param({"name": "nobody", "ports": [22]}, "nobody"),
        pytest.param({"name": "ghost", "ports": [22], "from_groups": ["nosuch"]}, "ghost"),
        pytest.param({"ports": [22], "from_networks": ["10.0.0.0/8"]}, "?"),
    ],
)
def test_each_bad_rule_is_named_and_the_good_one_is_not(
    tmp_path: Path, rule: dict[str, Any], named: str
) -> None:
    run = _run("firewall", _vars(GOOD, rule), tmp_path)
    _assert_fails_saying(run, f"firewall rule {named}: needs a name, ports (1..65535)")
    assert "firewall rule ssh" not in run.stdout + run.stderr
