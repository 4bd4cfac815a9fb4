"""Bad firewall rules fail in the firewall role's preflight, naming the rule, before any change;
a rule's name reaches the ruleset only as its quoted nftables comment.

Runs the role's preflight with ansible-playbook on the controller (connection local), as
tests/unit/test_pki_preflight.py does for the PKI roles, and renders the role's template the
same way (nft itself is not run here: the lab checks the ruleset with `nft -c`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from test_pki_preflight import _assert_fails_saying, _run

GOOD = {"name": "ssh", "ports": [22], "from_networks": ["10.0.0.0/8"]}
NEEDS = (
    "needs a name (one line of printable text, no double quote, at most 128 bytes: it is the"
    " nftables comment), ports (1..65535)"
)


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
        pytest.param(dict(GOOD, name="ssh\n} accept"), "ssh } accept", id="line-break"),
        pytest.param(dict(GOOD, name='ssh" accept'), 'ssh" accept', id="double-quote"),
        pytest.param(dict(GOOD, name="đ" * 65), "đ" * 65, id="130-bytes"),
    ],
)
def test_each_bad_rule_is_named_and_the_good_one_is_not(
    tmp_path: Path, rule: dict[str, Any], named: str
) -> None:
    run = _run("firewall", _vars(GOOD, rule), tmp_path)
    _assert_fails_saying(run, f"firewall rule {named}: {NEEDS}")
    assert "firewall rule ssh:" not in run.stdout + run.stderr


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
    _assert_fails_saying(run, f"firewall rule ?: {NEEDS}")
    assert "Ansible connects from" not in run.stdout


# The ruleset: each rule's name is the quoted comment of its accept lines.


def _render(rules: list[dict[str, Any]], tmp_path: Path) -> str:
    """The role's nftables.conf for localhost with ``rules``, rendered by Ansible locally from
    the role's defaults, vars and template (without its preflight: what it refuses is rendered
    too, to show that nothing but a comment can come of a name)."""
    role = Path(__file__).resolve().parents[2] / "roles" / "firewall"
    out = tmp_path / "nftables.conf"
    tasks = "".join(
        f"    - ansible.builtin.include_vars: {role}/{part}/main.yml\n"
        for part in ("defaults", "vars")
    ) + (
        f"    - ansible.builtin.template:\n        src: {role}/templates/etc/nftables.conf.j2\n"
        f"        dest: {out}\n        mode: '0600'\n"
    )
    run = _run("firewall", {**_vars(*rules), "firewall_rules": rules}, tmp_path, tasks=tasks)
    assert run.returncode == 0, run.stdout + run.stderr
    return out.read_text(encoding="utf-8")


def test_a_rule_name_is_a_quoted_comment_never_a_line_of_its_own(tmp_path: Path) -> None:
    rules = [
        dict(GOOD, name="ssh from the operations network"),
        dict(GOOD, name="Cổng thông tin điện tử", ports=[443], from_networks=["0.0.0.0/0"]),
        # What the preflight refuses, if a role were ever run without it: still one comment.
        dict(GOOD, name='v6 "peers"\nflush ruleset', ports=[80], from_networks=["2001:db8::/32"]),
    ]
    text = _render(rules, tmp_path)
    lines = [line.strip() for line in text.splitlines()]
    assert (
        'ip saddr { 10.0.0.0/8 } tcp dport { 22 } accept comment "ssh from the operations network"'
        in lines
    )
    assert 'meta nfproto ipv4 tcp dport { 443 } accept comment "Cổng thông tin điện tử"' in lines
    assert (
        "ip6 saddr { 2001:db8::/32 } tcp dport { 80 } accept comment \"v6 'peers' flush ruleset\""
        in lines
    )
    assert "flush ruleset" not in [line for line in lines if not line.endswith('"')]
    assert not [line for line in lines if line.startswith("#") and "ssh from" in line]
