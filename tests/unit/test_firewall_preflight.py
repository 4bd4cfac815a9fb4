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


def test_a_bad_policy_is_named(tmp_path: Path) -> None:
    variables = {**_vars(GOOD), "firewall_input_policy": "reject"}
    run = _run("firewall", variables, tmp_path)
    _assert_fails_saying(run, "firewall_input_policy must be drop or accept, got 'reject'")


# The lockout guard reads the play's SSH connection from the host: on localhost, from the
# environment ansible-playbook runs in.


def test_the_address_this_play_connects_from_must_stay_admitted(tmp_path: Path) -> None:
    environ = {"SSH_CONNECTION": "192.0.2.7 50000 10.0.0.1 22"}
    run = _run("firewall", _vars(GOOD), tmp_path, environ=environ)
    _assert_fails_saying(
        run,
        "localhost: Ansible connects from 192.0.2.7, but no firewall rule opens port 22 on this"
        " host to it (allowed: 10.0.0.0/8). Loading the ruleset would lock this play",
    )


def test_an_admitted_address_passes(tmp_path: Path) -> None:
    environ = {"SSH_CONNECTION": "10.1.2.7 50000 10.0.0.1 22"}
    run = _run("firewall", _vars(GOOD), tmp_path, environ=environ)
    assert run.returncode == 0, run.stdout + run.stderr


def test_bad_rules_are_named_before_the_guard_reads_them(tmp_path: Path) -> None:
    environ = {"SSH_CONNECTION": "192.0.2.7 50000 10.0.0.1 22"}
    run = _run("firewall", _vars(GOOD, {"ports": [22]}), tmp_path, environ=environ)
    _assert_fails_saying(run, "firewall rule ?: needs a name, ports (1..65535)")
    assert "Ansible connects from" not in run.stdout
