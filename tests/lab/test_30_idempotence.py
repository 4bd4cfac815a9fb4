"""A second deploy changes nothing, and --check after it predicts no change, on every host."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import INVENTORY, Run, pdic
from recap import recap

from pdic.inventory import Inventory
from pdic.secrets import VAULT_FILE


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


def _sites_on(host: str, inventory: Inventory) -> str:
    from pdic.connect import testinfra_host

    run = testinfra_host(inventory.host(host), timeout=60).run(
        "ls -l --time-style=+%s /etc/nginx/sites-enabled"
    )
    assert run.rc == 0, run.stderr
    return str(run.stdout)


@pytest.mark.parametrize("fault", ["duplicate-key", "second-inventory-file"])
def test_an_inventory_ansible_would_read_otherwise_deploys_nothing(
    redeployed: Run, inventory: Inventory, tmp_path: Path, fault: str
) -> None:
    # The slips that once passed the checker: a second portal_sites block that silently
    # replaced the first (27 sites become 1), and a file beside hosts.yml that Ansible loads as
    # a second inventory source. Deployed, either would change the portal hosts.
    copy = tmp_path / "inv"
    shutil.copytree(INVENTORY, copy)
    if fault == "duplicate-key":
        province = copy / "group_vars" / "all" / "province.yml"
        province.write_text(
            province.read_text(encoding="utf-8")
            + "portal_sites:\n  - {name: only, hostname: only.lab.pdic.internal, "
            "agency: so-tu-phap, title: Only}\n",
            encoding="utf-8",
        )
        expected = "duplicate key 'portal_sites'"
    else:
        (copy / "zz-extra.yml").write_text(
            "all: {hosts: {portal-1: {ansible_host: 999.1.1.1}}}\n", encoding="utf-8"
        )
        expected = "zz-extra.yml"
    before = _sites_on("portal-1", inventory)
    run = pdic("deploy", "-i", str(copy))
    assert run.returncode == 2, run
    lines = run.stderr.splitlines()
    assert lines and all(line.startswith("pdic: error: ") for line in lines), run.stderr
    assert any(expected in line for line in lines), run.stderr
    assert "PLAY" not in run.stdout, run.stdout
    assert _sites_on("portal-1", inventory) == before


def test_a_check_creates_nothing_on_the_controller(redeployed: Run, tmp_path: Path) -> None:
    # A secret declared but not yet in the vault file: a real deploy would create it; the
    # check names it, runs on the hosts with a stand-in, and leaves the vault file as it was.
    copy = tmp_path / "inv"
    shutil.copytree(INVENTORY, copy)
    vault = copy / VAULT_FILE
    sealed = vault.read_bytes()
    declared = copy / "group_vars" / "all" / "secrets.yml"
    text = declared.read_text(encoding="utf-8")
    assert "\npdic_secrets:\n" in text
    declared.write_text(
        text.replace("\npdic_secrets:\n", "\npdic_secrets:\n  - {name: vault_check_only}\n"),
        encoding="utf-8",
    )
    run = pdic("deploy", "-i", str(copy), "--check", "--limit", "portal-1")
    assert run.returncode == 0, run
    assert f"pdic deploy (check): {vault}: a real run creates secret vault_check_only" in (
        run.stdout
    ), run.stdout
    assert vault.read_bytes() == sealed
    assert recap(run.stdout)["portal-1"]["changed"] == 0, run.stdout


def test_deploys_are_journaled_here_and_at_the_log_host(
    redeployed: Run,
    inventory: Inventory,
    connect,  # type: ignore[no-untyped-def]
) -> None:
    from pdic import journal

    deploys = [
        r
        for r in journal.read()
        if r.command == "deploy" and r.exit_code == 0 and set(r.hosts) == set(inventory.hosts)
    ]
    assert deploys, journal.read()
    last = deploys[-1]
    assert set(last.hosts) == set(inventory.hosts) == set(last.outcomes)
    assert last.sent is True and last.user and last.git_commit
    log_host = connect(str(inventory.vars["hardening_log_server"]))
    found = log_host.run("grep -rl -- %s /var/log/remote", last.id)
    assert found.rc == 0 and found.stdout.strip(), found.stderr
    run = pdic("journal", "--since", "1d", "--host", "db-1", "--json")
    assert run.returncode == 0, run
    assert last.id in {r["id"] for r in json.loads(run.stdout)}
    # The deploy ran in a maintenance window over its hosts, named after its record, closed.
    from pdic import maint

    request = maint.http_request(maint.alertmanager_url(inventory))
    mine = [w for w in maint.windows(request, active_only=False) if last.id in w.comment]
    by_host = [w for w in mine if w.hosts]
    assert len(by_host) == 1 and by_host[0].state == "expired", mine
    assert set(by_host[0].hosts) == set(inventory.hosts)
    # It held every host: every service's alerts without a host label were held too.
    (services,) = [w for w in mine if not w.hosts]
    assert services.state == "expired" and "(services " in services.comment, mine
