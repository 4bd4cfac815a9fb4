"""A second deploy changes nothing, and --check after it predicts no change, on every host."""

from __future__ import annotations

import pytest
from conftest import Run, pdic
from recap import recap

from pdic.inventory import Inventory


def test_first_deploy_converged_every_host(deployed: Run, inventory: Inventory) -> None:
    if deployed.stdout == "(reused)":
        pytest.skip("PDIC_LAB_REUSE=deployed: no first deploy ran in this session")
    result = recap(deployed.stdout)
    assert set(result) == set(inventory.hosts)
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in result.values()), result


def test_second_deploy_changes_nothing(redeployed: Run, inventory: Inventory) -> None:
    assert redeployed.returncode == 0, redeployed
    result = recap(redeployed.stdout)
    assert set(result) == set(inventory.hosts)
    assert {h: r["changed"] for h, r in result.items() if r["changed"]} == {}, redeployed.stdout


def test_check_mode_predicts_no_change(redeployed: Run, inventory: Inventory) -> None:
    run = pdic("deploy", "--check", "--diff")
    assert run.returncode == 0, run
    result = recap(run.stdout)
    assert set(result) == set(inventory.hosts)
    assert {h: r["changed"] for h, r in result.items() if r["changed"]} == {}, run.stdout


def test_plain_ansible_engine_also_converges_with_no_change(redeployed: Run) -> None:
    run = pdic("deploy", "--engine", "ansible", "--limit", "portal-1,db-2")
    assert run.returncode == 0, run
    result = recap(run.stdout)
    assert set(result) == {"portal-1", "db-2"}
    assert all(r["changed"] == 0 for r in result.values()), run.stdout


def test_deploy_with_bad_inventory_deploys_nothing(redeployed: Run) -> None:
    run = pdic("deploy", "-i", "tests/inventory_corpus/06-bad-ip")
    assert run.returncode == 2, run
    assert run.stderr.startswith("pdic: error: "), run.stderr
    assert "PLAY" not in run.stdout
